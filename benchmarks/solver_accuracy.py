"""Accuracy of the deterministic solvers against the exact probability-flow ODE endpoint.

Problem: the 8-component 2-D Gaussian mixture of the tests (means 4 (cos k pi/4, sin k pi/4),
k = 0..7, variance 0.1 per coordinate, equal weights; exact denoiser), the EDM process
(sigma from 80 to 0.002), 500 particles x_T = 80 z from seed 0, float64. The reference endpoint
is the PF-ODE solved by the engine's Dormand-Prince 5(4) at rtol = atol = 1e-10, then denoised
at sigma = 0.002 (what every run returns). Error = RMSE over particles and coordinates.

Rows: every registered deterministic fixed-grid solver of the studio x schedule (uniform,
quadratic, logsnr, karras, optimized; the optimized schedule is fitted at NFE <= --opt-max-nfe with
its default settings, on prior samples other than these) and, driven with the same analytic
denoiser, the same x_T and the same sigma range, diffusers' EDMEulerScheduler,
EDMDPMSolverMultistepScheduler, DPMSolverMultistepScheduler and UniPCMultistepScheduler
(orders 2 and 3, Karras and exponential sigmas, final sigma 0, i.e. the last call's x0).
NFE counts every network evaluation, our final denoise included.

    python benchmarks/solver_accuracy.py [--opt-max-nfe 20] [--quick]

Prints a table at NFE 10, writes benchmarks/results/solver_accuracy.csv and
benchmarks/results/solver_accuracy.png.

    python benchmarks/solver_accuracy.py --frontier [--frontier-problems 2d,8d,32d,moons]

The accuracy frontier at NFE 5 and 10 (see :func:`frontier`): on the 2-D mixture above, an 8-D
and a 32-D mixture with random full covariances and the bundled trained moons model (its network
queried through the EDM process at equal log-SNR), every fitted method (the ``optimized``
schedule by gradient and by compass search, ``ld3``, ``bns``, ``amed``) with its fit's wall time
and solves beside its error, against the best of the diffusers schedulers on the same x_T.
Writes benchmarks/results/solver_frontier.csv and .md (with the machine's load average);
``--frontier-rows "LABEL;LABEL"`` re-runs only those rows and keeps the saved table's others.

Stochastic samplers have no ODE endpoint to compare with; ``--sde`` (or ``--sde-only``) adds their
table: the sliced Wasserstein distance of 2000 samples to 20000 exact mixture samples per NFE, beside
the floor (the SW between two exact sets of those sizes), written to
benchmarks/results/solver_accuracy_sde.csv.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from studio.core.errors import StudioError  # noqa: E402
from studio.core.model import Denoiser  # noqa: E402
from studio.core.odeint import dopri5  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.pipeline import build_solver  # noqa: E402
from studio.core.registry import NETWORKS, PROCESSES, SOLVERS  # noqa: E402
from studio.core.runner import SamplingRun  # noqa: E402

RESULTS = os.path.join(HERE, "results")
NFES = [5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100]
SCHEDULES = ["uniform", "quadratic", "logsnr", "karras", "optimized"]
GMM8 = {"means": [[4 * math.cos(k * math.pi / 4), 4 * math.sin(k * math.pi / 4)] for k in range(8)],
        "vars": [[0.1, 0.1]] * 8}
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


def setup(particles: int, seed: int):
    proc = build(PROCESSES.get("edm"), {"sigma_min": SIGMA_MIN, "sigma_max": SIGMA_MAX}, "edm")
    net = build(NETWORKS.get("gmm"), GMM8, "gmm")
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(particles, 2, generator=g, dtype=torch.float64) * SIGMA_MAX
    return proc, net, x_T


def reference(net, proc, x_T, rtol: float) -> tuple[torch.Tensor, int]:
    den = Denoiser(net, proc)
    sol = dopri5(lambda t, x: den(x, t).velocity, x_T, SIGMA_MAX, SIGMA_MIN, rtol=rtol, atol=rtol)
    return den(sol.y, SIGMA_MIN).x0, den.nfe


def rmse(a, b) -> float:
    return float((a.to(torch.float64) - b).pow(2).mean().sqrt())


# -- ours --------------------------------------------------------------------------------------
def our_solvers() -> list[str]:
    return [s for s, cls in SOLVERS.items() if not cls.stochastic and not cls.adaptive]


def run_ours(sid, schedule, nfe, net, proc, x_T):
    try:
        solver = build_solver(sid, {"nfe": nfe, "schedule": schedule}, sid)
        solver.num_steps()
    except Exception:  # budget too small for this solver
        return None
    res = SamplingRun(Denoiser(net, proc), solver, x_T).run()
    return res.samples, res.nfe


# -- stochastic samplers: distance to exact samples ----------------------------------------------
SDE_ROWS = [("restart", {}), ("sa-solver", {}), ("sa-solver", {"tau": 0.5}),
            ("pc", {"corrector": "lml"}), ("pc", {}), ("euler-maruyama", {}),
            ("edm-stochastic", {}), ("dpm-solver++-2m-sde", {}), ("dmcmc", {})]
SDE_NFES = [20, 50, 100, 200]


def sde_table(out_dir: str, particles: int = 2000, only: tuple = ()) -> list[dict]:
    """The table; ``only`` (solver ids) runs just those rows and replaces them in the saved CSV."""
    from studio.core.metrics import sliced_wasserstein
    proc, net, _ = setup(particles, 0)
    g = torch.Generator().manual_seed(99)
    ref = net.sample(20000, g)
    floor = float(sliced_wasserstein(net.sample(particles, g), ref))
    x_T = torch.randn(particles, 2, generator=torch.Generator().manual_seed(1),
                      dtype=torch.float64) * SIGMA_MAX
    rows = []
    for sid, kw in [r for r in SDE_ROWS if not only or r[0] in only]:
        label = sid + "".join(f" {k}={v}" for k, v in kw.items())
        t1 = time.perf_counter()
        for nfe in SDE_NFES:
            try:
                solver = build_solver(sid, {"nfe": nfe, **kw}, sid)
                solver.num_steps()
            except Exception:
                continue
            res = SamplingRun(Denoiser(net, proc), solver, x_T, seed=5).run()
            rows.append({"label": label, "nfe_budget": nfe, "nfe": res.nfe,
                         "sw": float(sliced_wasserstein(res.samples, ref)), "floor": floor})
        print(f"  {label}: {time.perf_counter() - t1:.1f}s", flush=True)
    print(f"\nsliced Wasserstein to exact samples ({particles} vs 20000; floor {floor:.4f}):")
    print(f"{'sampler':34s}" + "".join(f"{'NFE ' + str(n):>11s}" for n in SDE_NFES))
    for label in dict.fromkeys(r["label"] for r in rows):
        cells = {r["nfe_budget"]: r["sw"] for r in rows if r["label"] == label}
        print(f"{label:34s}" + "".join(f"{cells[n]:11.4f}" if n in cells else f"{'-':>11s}"
                                        for n in SDE_NFES))
    path = os.path.join(out_dir, "solver_accuracy_sde.csv")
    if only and os.path.exists(path):   # keep the other rows of the saved table
        new = {r["label"] for r in rows}
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["label"] not in new]
        rows = [{**r, "nfe_budget": int(r["nfe_budget"]), "nfe": int(r["nfe"]),
                 "sw": float(r["sw"]), "floor": float(r["floor"])} for r in kept] + rows
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["label", "nfe_budget", "nfe", "sw", "floor"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "sw": f"{r['sw']:.6e}", "floor": f"{r['floor']:.6e}"})
    print(f"wrote {path}")
    return rows


# -- diffusers peers ---------------------------------------------------------------------------
def peer_configs():
    import diffusers as d
    out = {}
    out["diffusers EDMEuler karras"] = ("edm", lambda: d.EDMEulerScheduler(
        sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, sigma_schedule="karras"))
    for order in (2, 3):
        for sched in ("karras", "exponential"):
            out[f"diffusers EDMDPMSolver++ {order}M {sched}"] = ("edm", lambda o=order, s=sched:
                d.EDMDPMSolverMultistepScheduler(sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX,
                                                 sigma_schedule=s, solver_order=o))
            flag = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas"}[sched]
            out[f"diffusers DPMSolver++ {order}M {sched}"] = ("vp", lambda o=order, f=flag: _vp(
                d.DPMSolverMultistepScheduler(solver_order=o, prediction_type="sample",
                                              final_sigmas_type="zero", **{f: True})))
            out[f"diffusers UniPC bh2 order {order} {sched}"] = ("vp", lambda o=order, f=flag: _vp(
                d.UniPCMultistepScheduler(solver_order=o, prediction_type="sample",
                                          final_sigmas_type="zero", **{f: True})))
    return out


def _vp(scheduler):
    """A VP-discrete diffusers scheduler whose Karras / exponential sigmas span EDM's range: its
    sigma conversions read config.sigma_min / sigma_max when present."""
    scheduler.register_to_config(sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX)
    return scheduler


def run_peer(kind, make, nfe, net, proc, x_T):
    """Drive a diffusers scheduler with the exact denoiser: nfe scheduler steps = nfe calls."""
    sch = make()
    sch.set_timesteps(nfe)
    den = Denoiser(net, proc)
    sigmas = sch.sigmas.to(torch.float64)
    if abs(float(sigmas[0]) - SIGMA_MAX) > 1e-3 or abs(float(sigmas[-2]) - SIGMA_MIN) > 1e-6:
        raise RuntimeError(f"peer sigmas span {float(sigmas[0])}..{float(sigmas[-2])}")
    sd = float(getattr(sch.config, "sigma_data", 0.5))
    x = x_T.clone() if kind == "edm" else x_T / math.sqrt(1.0 + float(sigmas[0]) ** 2)
    for i, t in enumerate(sch.timesteps):
        sigma = float(sigmas[i])
        if kind == "edm":
            sch.scale_model_input(x, t)  # c_in x is the network's input; ours takes x itself
            d0 = den(x, sigma).x0
            c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
            c_out = sigma * sd / math.sqrt(sigma ** 2 + sd ** 2)
            out = (d0 - c_skip * x) / c_out  # the 'epsilon' output whose preconditioning is d0
        else:
            out = den(x * math.sqrt(1.0 + sigma ** 2), sigma).x0  # prediction_type 'sample'
        x = sch.step(out, t, x).prev_sample
    if float(sigmas[-1]) != 0.0:
        raise RuntimeError("peer did not end at sigma 0")
    return x, den.nfe


# -- figure ------------------------------------------------------------------------------------
SYMBOLS = ("o", "s", "t", "d", "star", "p", "h", "t1", "x", "+")


def render(rows: list[dict], panels: list[tuple[str, list[str]]], path: str, title: str):
    """One log-log panel per (title, row labels), each with its legend underneath; diffusers rows
    are dashed."""
    from studio.render import ensure_app, pin_none
    from studio.render.compare_plots import PALETTE, log_ticks
    pin_none()
    app = ensure_app()
    import pyqtgraph as pg
    import pyqtgraph.exporters as exporters
    from PySide6.QtGui import QFont

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    series: dict[str, list] = {}
    for r in rows:
        series.setdefault(r["label"], []).append((r["nfe"], r["rmse"]))
    shown = [v for _, labels in panels for lab in labels for _, v in series.get(lab, []) if v > 0]
    lo, hi = min(shown), max(shown)
    nfe_hi = max(n for lab in series for n, _ in series[lab])
    win = pg.GraphicsLayoutWidget()
    width, height = 640 * len(panels), 1020
    win.resize(width, height)
    win.ci.addLabel(title, col=0, colspan=len(panels), size="13pt")
    win.ci.nextRow()
    font = QFont()
    font.setPointSize(10)
    plots = []
    for col, (name, labels) in enumerate(panels):
        p = win.ci.addPlot(row=1, col=col, title=f"<span style='font-size:11pt'>{name}</span>")
        p.setLogMode(x=True, y=True)
        p.showGrid(x=True, y=True, alpha=0.25)
        p.setLabel("bottom", "network evaluations (NFE)")
        p.setLabel("left", "RMSE to the exact PF-ODE endpoint")
        for ax in ("left", "bottom"):
            p.getAxis(ax).setStyle(tickFont=font)
        p.getAxis("bottom").setTicks(log_ticks(4, nfe_hi * 1.05))
        p.getAxis("left").setTicks(log_ticks(lo, hi))
        p.setXRange(math.log10(4.6), math.log10(nfe_hi * 1.05), padding=0)
        p.setYRange(math.log10(lo) - 0.05, math.log10(hi) + 0.05, padding=0)
        p.setMinimumHeight(560)
        legend = pg.LegendItem(labelTextSize="9pt", verSpacing=-8, colCount=1)
        legend.setMaximumHeight(20 * len(labels) + 10)  # no stretching between the entries
        win.ci.addItem(legend, row=2, col=col)
        for k, label in enumerate(labels):
            pts = sorted(series.get(label, []))
            if not pts:
                continue
            xs, ys = zip(*pts)
            dashed = label.startswith("diffusers")
            style = pg.QtCore.Qt.PenStyle.DashLine if dashed else pg.QtCore.Qt.PenStyle.SolidLine
            color = PALETTE[k % len(PALETTE)]
            item = p.plot(list(xs), list(ys), pen=pg.mkPen(color, width=2, style=style),
                          symbol=SYMBOLS[k % len(SYMBOLS)], symbolSize=7, symbolBrush=color,
                          symbolPen=pg.mkPen(color))
            legend.addItem(item, label)
        plots.append(p)
    win.show()
    for _ in range(5):
        app.processEvents()
    ex = exporters.ImageExporter(win.scene())
    ex.parameters()["width"] = width
    ex.export(path)
    win.close()


# -- the frontier at NFE 5 and 10: fitted methods with their fit time ----------------------------
FRONTIER = [  # (label, solver id, params)
    ("ipndm karras", "ipndm", {}),
    ("dpm-solver++-2m karras", "dpm-solver++-2m", {}),
    ("unipc karras", "unipc", {}),
    ("ipndm optimized (compass)", "ipndm", {"schedule": "optimized", "method": "compass"}),
    ("ipndm optimized", "ipndm", {"schedule": "optimized"}),
    ("ipndm optimized (3 starts)", "ipndm", {"schedule": "optimized", "starts": 3}),
    ("ipndm optimized (stratified)", "ipndm", {"schedule": "optimized", "pool": 16}),
    ("dpm-solver++-2m optimized", "dpm-solver++-2m", {"schedule": "optimized"}),
    ("ipndm ld3", "ipndm", {"schedule": "ld3"}),
    ("dpm-solver++-2m ld3", "dpm-solver++-2m", {"schedule": "ld3"}),
    ("bns (plain draw, schedule start)", "bns", {"fit_init": "schedule", "fit_pool": 1,
                                                 "fit_particles": 256, "fit_iterations": 150,
                                                 "fit_holdout": False}),
    ("bns", "bns", {}),
    ("bns (no final eval, 1024 particles, 300 solves)", "bns", {"final_eval": False,
                                                                 "fit_particles": 1024,
                                                                 "fit_iterations": 300}),
    ("amed", "amed", {}),
    ("amed (per-sample predictor)", "amed", {"predictor": True}),
    ("bns (per-sample predictor)", "bns", {"predictor": True}),
]


def mixture(dim: int, k: int, seed: int) -> dict:
    """k components with random full covariances in ``dim`` dimensions, about unit variance."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, dim)) * 0.9
    covs = []
    for _ in range(k):
        b = rng.normal(size=(dim, dim)) * (0.34 / math.sqrt(dim))
        covs.append(b @ b.T + 0.02 * np.eye(dim))
    return {"means": means.tolist(), "covs": np.array(covs).tolist(),
            "weights": rng.dirichlet(np.full(k, 3.0)).tolist()}


def frontier_problems(names):
    out = []
    for name in names:
        sigma = (0.002, 80.0)
        if name == "2d":
            net, title = build(NETWORKS.get("gmm"), GMM8, "gmm"), "2-D mixture (8 modes)"
        elif name in ("8d", "32d"):
            dim = int(name[:-1])
            net = build(NETWORKS.get("gmm"), mixture(dim, 6 if dim == 8 else 8, dim), "gmm")
            title = f"{dim}-D mixture (full covariances)"
        elif name == "moons":
            net = build(NETWORKS.get("file"), {"path": "assets:moons.safetensors"}, "file")
            lam = net.trained_process.logsnr(torch.tensor([net.trained_process.t_min],
                                                          dtype=torch.float64))
            sigma, title = (float(torch.exp(-0.5 * lam[0])), 80.0), "trained moons model (MLP)"
        else:
            raise SystemExit(f"unknown problem {name!r}")
        out.append((name, title, net, sigma))
    return out


def merge_rows(path: str, new: list[dict]) -> list[dict]:
    """The saved frontier CSV's rows with those of ``new`` (same problem, label, NFE) replaced."""
    with open(path, newline="") as f:
        old = list(csv.DictReader(f))
    for r in old:
        for k in ("nfe_budget", "nfe", "fit_solves"):
            r[k] = int(r[k])
        for k in ("rmse", "ratio", "fit_seconds", "best_diffusers_rmse"):
            r[k] = float(r[k])
    done = {(r["problem"], r["label"], r["nfe_budget"]) for r in new}
    merged = [r for r in old if (r["problem"], r["label"], r["nfe_budget"]) not in done] + new
    problems = list(dict.fromkeys(r["problem"] for r in old + new))
    order = {label: k for k, (label, _, _) in enumerate(FRONTIER)}
    return sorted(merged, key=lambda r: (problems.index(r["problem"]), r["nfe_budget"],
                                         order.get(r["label"], len(order))))


def frontier(args) -> int:
    """NFE 5 and 10: each FRONTIER row's error, fit seconds and solves vs the best diffusers."""
    global SIGMA_MIN, SIGMA_MAX
    rows, load = [], os.getloadavg()
    only = [v.strip() for v in args.frontier_rows.split(";") if v.strip()]
    unknown = sorted(set(only) - {label for label, _, _ in FRONTIER})
    if unknown:
        raise SystemExit(f"unknown frontier rows {unknown}")
    for name, title, net, (smin, smax) in frontier_problems(args.frontier_problems.split(",")):
        SIGMA_MIN, SIGMA_MAX = smin, smax
        proc = build(PROCESSES.get("edm"), {"sigma_min": smin, "sigma_max": smax}, "edm")
        g = torch.Generator().manual_seed(args.seed)
        x_T = torch.randn((args.particles,) + tuple(net.data_shape), generator=g,
                          dtype=torch.float64) * smax
        ref, _ = reference(net, proc, x_T, 1e-10)
        ref = net.to_data_units(ref)  # runs return samples in data units (a trained network's)
        for nfe in (5, 10):
            best_peer = (math.inf, "")
            for label, (kind, make) in peer_configs().items():
                x, _ = run_peer(kind, make, nfe, net, proc, x_T)
                best_peer = min(best_peer, (rmse(net.to_data_units(x), ref), label))
            for label, sid, params in FRONTIER:
                if only and label not in only:
                    continue
                solver = build_solver(sid, {"nfe": nfe, **params}, sid)
                den = Denoiser(net, proc)
                t0 = time.perf_counter()
                try:
                    ts = solver.times_for(den)
                except StudioError as exc:  # e.g. ld3 on a solver without exact gradients
                    print(f"{title:34s} NFE {nfe:2d} {label:28s} not run: {exc}")
                    continue
                fit_s = time.perf_counter() - t0
                res = SamplingRun(den, solver, x_T, ts=ts).run()
                info = getattr(solver, "fit_info", None)
                err = rmse(res.samples, ref)
                rows.append({"problem": title, "label": label, "nfe_budget": nfe, "nfe": res.nfe,
                             "rmse": err, "ratio": err / best_peer[0],
                             "fit_seconds": fit_s if info is not None else 0.0,
                             "fit_solves": info.evaluations if info is not None else 0,
                             "best_diffusers": best_peer[1], "best_diffusers_rmse": best_peer[0]})
                print(f"{title:34s} NFE {nfe:2d} {label:28s} {err:9.4g} ({err / best_peer[0]:5.3f}x"
                      f" {best_peer[1]}) fit {rows[-1]['fit_seconds']:6.2f}s "
                      f"{rows[-1]['fit_solves']:4d} solves", flush=True)
    keys = list(rows[0])
    csv_path = os.path.join(args.out, "solver_frontier.csv")
    note, end = "", os.getloadavg()
    if only and os.path.exists(csv_path):  # a partial re-run: keep the saved table's other rows
        rows = merge_rows(csv_path, rows)
        note = (f" Re-run later: {'; '.join(only)} on {args.frontier_problems} (load average "
                f"{load[0]:.1f} at the start, {end[0]:.1f} at the end); the other rows are from "
                "the previous full run.")
        md = os.path.join(args.out, "solver_frontier.md")
        import re
        found = re.search(r"load average ([\d.]+) at the start, ([\d.]+) at the end",
                          open(md).read()) if os.path.exists(md) else None
        if found:  # the load sentence stays the full run's
            load, end = (float(found.group(1)),), (float(found.group(2)),)
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    lines = ["# Accuracy frontier at NFE 5 and 10 (fitted methods, fit time per row)", "",
             f"EDM process, {args.particles} particles x_T from seed {args.seed} (fits use their "
             "own prior samples), RMSE to the exact PF-ODE endpoint (dopri5 rtol 1e-10); ratio = "
             "RMSE / best diffusers scheduler (DPM-Solver++ 2M/3M, UniPC, EDM Euler; Karras and "
             "exponential sigmas) at the same NFE. Fit seconds: wall time of the first run's fit "
             f"(reference solve included), 1 thread; load average {load[0]:.1f} at the start, "
             f"{end[0]:.1f} at the end (2 cores shared with other jobs: times are inflated)."
             + note, ""]
    for title in dict.fromkeys(r["problem"] for r in rows):
        lines += [f"## {title}", "", "| method | NFE 5 RMSE | ratio | fit s | solves | NFE 10 RMSE "
                  "| ratio | fit s | solves |", "|---|---|---|---|---|---|---|---|---|"]
        for label, _, _ in FRONTIER:
            cells = []
            for nfe in (5, 10):
                r = next((r for r in rows if r["problem"] == title and r["label"] == label
                          and r["nfe_budget"] == nfe), None)
                cells += (["not run"] * 4 if r is None else
                          [f"{r['rmse']:.4g}", f"{r['ratio']:.3f}", f"{r['fit_seconds']:.1f}",
                           str(r["fit_solves"])])
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        for nfe in (5, 10):
            r = next(r for r in rows if r["problem"] == title and r["nfe_budget"] == nfe)
            lines.append(f"\nbest diffusers at NFE {nfe}: {r['best_diffusers']} "
                         f"{r['best_diffusers_rmse']:.4g}")
        lines.append("")
    with open(os.path.join(args.out, "solver_frontier.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}/solver_frontier.csv and .md")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--particles", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opt-max-nfe", type=int, default=20,
                    help="fit the optimized schedule up to this NFE (each fit costs seconds)")
    ap.add_argument("--quick", action="store_true", help="NFE 5, 10, 20 only, fewer solvers")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--frontier", action="store_true", help="the NFE 5/10 frontier of the fitted "
                    "methods on several problems (solver_frontier.csv/.md) instead")
    ap.add_argument("--frontier-problems", default="2d,8d,32d,moons")
    ap.add_argument("--frontier-rows", default="", help="';'-separated frontier labels to re-run "
                    "(the saved table's other rows are kept)")
    ap.add_argument("--only", default="", help="comma-separated solver ids (skips the peers)")
    ap.add_argument("--schedules", default="", help="comma-separated schedules (default: all)")
    ap.add_argument("--sde", action="store_true", help="also the stochastic samplers' table")
    ap.add_argument("--sde-only", action="store_true", help="only the stochastic samplers' table")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    if args.frontier:
        return frontier(args)
    if args.sde or args.sde_only:
        sde_table(args.out, only=tuple(s for s in args.only.split(",") if s))
        if args.sde_only:
            return 0

    proc, net, x_T = setup(args.particles, args.seed)
    t0 = time.perf_counter()
    ref, ref_nfe = reference(net, proc, x_T, 1e-10)
    ref_check, _ = reference(net, proc, x_T, 1e-8)
    print(f"reference: dopri5 rtol 1e-10, {ref_nfe} evaluations; |ref(1e-8) - ref(1e-10)| RMSE "
          f"{rmse(ref_check, ref):.2e} ({time.perf_counter() - t0:.1f}s)")

    nfes = [5, 10, 20] if args.quick else NFES
    solvers = our_solvers()
    if args.quick:
        solvers = [s for s in solvers if s in ("euler", "heun", "dpm-solver++-2m", "unipc")]
    if args.only:
        solvers = [s for s in args.only.split(",") if s]
    schedules = [s for s in args.schedules.split(",") if s] or SCHEDULES
    rows: list[dict] = []

    def add(label, family, schedule, nfe_budget, out):
        if out is None:
            return
        x, used = out
        rows.append({"label": label, "family": family, "schedule": schedule,
                     "nfe_budget": nfe_budget, "nfe": used, "rmse": rmse(x, ref)})

    for sid in solvers:
        t1 = time.perf_counter()
        for sched in schedules:
            for nfe in nfes:
                if sched == "optimized" and nfe > args.opt_max_nfe:
                    continue
                add(f"{sid} {sched}", "studio", sched, nfe, run_ours(sid, sched, nfe, net, proc, x_T))
        print(f"  {sid}: {time.perf_counter() - t1:.1f}s", flush=True)
    for label, (kind, make) in ({} if args.only else peer_configs()).items():
        for nfe in nfes:
            add(label, "diffusers", label.rsplit(" ", 1)[1], nfe, run_peer(kind, make, nfe, net,
                                                                             proc, x_T))

    csv_path = os.path.join(args.out, "solver_accuracy_subset.csv" if args.only
                            else "solver_accuracy.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["label", "family", "schedule", "nfe_budget", "nfe", "rmse"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "rmse": f"{r['rmse']:.6e}"})

    # the table at NFE 10 (rows that used at most 10 evaluations, budget 10)
    at10 = sorted((r for r in rows if r["nfe_budget"] == 10), key=lambda r: r["rmse"])
    print(f"\nRMSE at an NFE budget of 10 (EDM, 8-mode GMM, {args.particles} particles):")
    print(f"{'solver / schedule':44s} {'NFE':>4s} {'RMSE':>10s}")
    for r in at10:
        print(f"{r['label']:44s} {r['nfe']:4d} {r['rmse']:10.4g}")
    ours = [r for r in at10 if r["family"] == "studio"]
    theirs = [r for r in at10 if r["family"] == "diffusers"]
    if ours and theirs:
        print(f"\nbest studio: {ours[0]['label']} {ours[0]['rmse']:.4g}; best diffusers: "
              f"{theirs[0]['label']} {theirs[0]['rmse']:.4g}; ratio "
              f"{theirs[0]['rmse'] / ours[0]['rmse']:.2f}x")
        kar = {r["label"]: r["rmse"] for r in at10}
        if "dpm-solver++-2m karras" in kar and "dpm-solver++-2m optimized" in kar:
            print(f"dpm-solver++-2m at NFE 10: karras {kar['dpm-solver++-2m karras']:.4g}, optimized "
                  f"{kar['dpm-solver++-2m optimized']:.4g} "
                  f"({kar['dpm-solver++-2m karras'] / kar['dpm-solver++-2m optimized']:.2f}x)")

    if args.only:   # a subset: table and CSV only (the figure needs every row)
        print(f"\nwrote {csv_path}")
        return 0
    # figure: (1) the schedules with dpm-solver++-2m; (2) every solver with Karras' schedule;
    # (3) the best studio rows at NFE 10 against the best configuration of each diffusers family
    schedules_panel = [f"dpm-solver++-2m {s}" for s in SCHEDULES]
    karras_panel = [f"{sid} karras" for sid in solvers]
    best_rows = list(dict.fromkeys([r["label"] for r in ours[:4]]
                                   + [r["label"] for r in ours if r["schedule"] == "karras"][:1]))
    families = {}
    for r in theirs:  # sorted by error: the first of each family is its best configuration
        fam = r["label"].rsplit(" ", 1)[0].replace(" karras", "").replace(" exponential", "")
        if fam.startswith("diffusers EDMDPMSolver"):
            continue  # the same numbers as DPMSolverMultistepScheduler (see the CSV)
        families.setdefault(fam, r["label"])
    panels = [("Schedules (dpm-solver++-2m)", schedules_panel),
              ("Studio solvers, Karras schedule", karras_panel),
              ("Best studio vs best of each diffusers scheduler", best_rows + list(families.values()))]
    png = os.path.join(args.out, "solver_accuracy.png")
    render(rows, panels, png, f"Solver error vs NFE: 8-mode 2-D GMM, EDM process (sigma "
           f"{SIGMA_MAX:g} to {SIGMA_MIN:g}), {args.particles} particles, same x_T; optimized "
           f"schedule fitted up to NFE {args.opt_max_nfe}")
    print(f"\nwrote {csv_path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

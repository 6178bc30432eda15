"""How exact is each inverse-problem method? Every guidance kind against the exact posterior.

With a Gaussian-mixture prior and y = A x + sigma_y n the posterior is a Gaussian mixture known in
closed form (studio.core.inverse.posterior). For each bed (prior x operator x sigma_y) we draw a few
ground truths x* from the prior, measure y, and sample every method with the prior's exact
denoiser (the `gmm` network), the vp-linear process and DDIM (eta = 1, ancestral, as in most of the
papers). Reported, averaged over the measurements:

  sw        sliced 2-Wasserstein distance to exact posterior samples (256 directions)
  mean_err  || mean of the method's samples - exact posterior mean ||  (Euclidean)
  resid     mean ||y - A x|| of the samples (the exact posterior's own value is in its row)

Reference rows: `exact posterior` = fresh exact samples (the finite-sample floor of sw);
`exact score` = the same solver on the posterior's own exact denoiser (the discretisation floor);
`prior (no guidance)` = what ignoring y gives.

    python benchmarks/inverse_exactness.py [--quick] [--steps 100] [--batch 1500] [--measurements 2]

Writes benchmarks/results/inverse_exactness.{csv,md}.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from studio.core.inverse.exactness import component_weights  # noqa: E402
from studio.core.inverse.guidance import build_operator  # noqa: E402
from studio.core.inverse.posterior import posterior_of  # noqa: E402
from studio.core.metrics import (random_directions, sliced_wasserstein,  # noqa: E402
                                 sliced_wasserstein_weighted)
from studio.core.model import Denoiser  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.pipeline import build_solver  # noqa: E402
from studio.core.registry import GUIDANCE, NETWORKS, PROCESSES  # noqa: E402
from studio.core.runner import SamplingRun  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results")

#: (label, guidance kind or None, params). DPS's paper step (zeta' = 1 over 1000 steps) is made for
#: 256x256x3 images; on 2-D/8-D problems it overshoots, so a tuned value is reported as well.
METHODS = [
    ("replace", "replace", {}),
    ("dps (paper zeta 1)", "dps", {}),
    ("dps (zeta 0.01)", "dps", {"zeta": 0.01}),
    ("pigdm", "pigdm", {}),
    ("ddnm", "ddnm", {}),
    ("red-diff", "red-diff", {}),
    ("dds", "dds", {}),
    # IR-SDE restoration: the exact posterior's denoiser under the mean-reverting process (its
    # gap to the floor is the solver's); "_solver" runs it with the seed paper's MRS sampler
    ("ir-sde", "ir-sde", {}),
    ("ir-sde + mrs", "ir-sde", {"_solver": "mrs"}),
]
#: the particle samplers (sequential Monte Carlo; asymptotically exact in K). The batch is rounded
#: up to a multiple of K (populations of K particles).
PARTICLES = [(f"{kind} K={k}", kind, {"particles": k}) for kind in ("tds", "mcgdiff", "fps")
             for k in (10, 100, 1000)]


def ring2d():
    return {"means": [[1.2 * math.cos(k * math.pi / 4), 1.2 * math.sin(k * math.pi / 4)]
                      for k in range(8)], "vars": [[0.03, 0.03]] * 8}


def mix8d(seed=0):
    """6 components with random full covariances in 8-D, scaled to about unit variance."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(6, 8)) * 0.9
    covs = []
    for _ in range(6):
        b = rng.normal(size=(8, 8)) * 0.12
        covs.append(b @ b.T + 0.02 * np.eye(8))
    w = rng.dirichlet(np.full(6, 3.0))
    return {"means": means.tolist(), "covs": np.array(covs).tolist(), "weights": w.tolist()}


def bimodal4d():
    """Two 4-D Gaussians; measuring the last two coordinates leaves both modes in the posterior."""
    return {"means": [[1.0, 0.8, 0.3, -0.2], [-1.0, -0.6, 0.1, 0.4]],
            "vars": [[0.1, 0.1, 0.2, 0.2], [0.3, 0.2, 0.2, 0.3]], "weights": [0.35, 0.65]}


BEDS = [
    ("ring 2-D", ring2d, [("projection m=1", {"kind": "projection", "m": 1, "seed": 3}),
                          ("inpaint 1 of 2", {"kind": "inpaint", "mask": [1, 0]})]),
    ("mixture 8-D", mix8d, [("projection m=4", {"kind": "projection", "m": 4, "seed": 1}),
                            ("inpaint 4 of 8", {"kind": "inpaint", "mask": [1, 1, 0, 0, 1, 0, 1, 0]})]),
    ("bimodal 4-D", bimodal4d, [("inpaint 2 of 4", {"kind": "inpaint", "mask": [0, 0, 1, 1]})]),
]


SCHEDULE = {"name": "uniform"}


def run_one(net, proc, guidance, steps, batch, seed, solver_id=None):
    k = getattr(guidance, "particles", 1)
    batch = -(-batch // k) * k
    z = torch.randn((batch,) + tuple(net.data_shape), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    params = {"steps": steps, "schedule": SCHEDULE["name"]}
    if solver_id is None:
        solver_id, params["eta"] = "ddim", 1.0
    solver = build_solver(solver_id, params, solver_id)
    t0 = time.perf_counter()
    res = SamplingRun(Denoiser(net, proc, guidance), solver, z * proc.prior_std, seed=seed).run()
    return res.samples, res.nfe, time.perf_counter() - t0


def inversion_roundtrip(proc, n=200):
    """RMSE of invert -> regenerate on the 8-D mixture prior, per solver."""
    from studio.core.invert import invert
    from studio.core.pipeline import Pipeline
    out = {}
    for sid, params in (("ddim", {"steps": 50, "eta": 0.0}), ("dopri5", {"rtol": 1e-9, "atol": 1e-9})):
        doc = {"format": "studio.pipeline/1",
               "nodes": {"p": {"type": "process", "kind": "vp-linear", "params": {}},
                         "n": {"type": "network", "kind": "gmm", "params": mix8d()},
                         "s": {"type": "solver", "kind": sid, "params": params}},
               "links": [["p", "n"], ["n", "s"]], "run": {"batch": n, "seed": 0}}
        built = Pipeline.from_dict(doc).build()
        data = built.network.sample(n, torch.Generator().manual_seed(4))
        z, _ = invert(built, data)
        back = built.run(noise=z)["s"].samples
        out[sid] = float(((back - data) ** 2).mean().sqrt())
    return out


def particle_metrics(gd, post, ref) -> dict:
    """What only a particle method has: the resampling-free weighted estimate (every particle's x0
    with its final normalised weight, before the last resampling; populations pooled with equal
    mass) and the spread of the posterior mode weights between populations."""
    x0, w = gd.weighted
    p, k = w.shape
    sw_w = float(sliced_wasserstein_weighted(x0, w.reshape(-1) / p, ref.x, n_projections=256,
                                             seed=0))
    cw = np.stack([component_weights(x0[i * k:(i + 1) * k], post, w[i]) for i in range(p)])
    pw = np.asarray(post.weights)
    iid = np.sqrt(np.maximum(pw * (1 - pw), 1e-12) / k)
    # the variance of the mode weights between populations over that of K iid samples: K / ESS
    infl = float(np.max((cw.std(0) / iid) ** 2)) if p > 1 else float("nan")
    return {"sw_w": sw_w, "cw_err_w": float(np.abs(cw.mean(0) - pw).max()), "cw_infl": infl}


class Reference:
    """Exact reference samples with their 256 projections sorted once. When the reference size m
    is a multiple of n, the sliced W2 of n samples is sum over j of (a_(j // (m/n)) - b_j)^2 / m
    per direction (the two quantile functions step together): the value of
    :func:`sliced_wasserstein` (same directions), without its merge of levels."""

    def __init__(self, ref: torch.Tensor):
        self.x = ref.reshape(len(ref), -1).to(torch.float64)
        self.theta = random_directions(256, self.x.shape[1], 0)
        self.proj = torch.sort(self.x @ self.theta.T, dim=0)[0]

    def sw(self, xs: torch.Tensor) -> float:
        n, m = len(xs), len(self.x)
        if m % n:
            return float(sliced_wasserstein(xs, self.x, n_projections=256, seed=0))
        a = torch.sort(xs.reshape(n, -1).to(torch.float64) @ self.theta.T, dim=0)[0]
        return float(((a.repeat_interleave(m // n, 0) - self.proj) ** 2).mean().sqrt())


def evaluate(xs, ref, post, op, y):
    return {"sw": ref.sw(xs),
            "cw_err": float(np.abs(component_weights(xs, post) - np.asarray(post.weights)).max()),
            "mean_err": float(np.linalg.norm(xs.mean(0).numpy() - post.mean)),
            "resid": float((op.measured(op.forward(xs)) - y).reshape(len(xs), -1).norm(dim=1).mean()),
            # resampled particles repeat: the fraction of distinct samples
            "unique": len(np.unique(xs.numpy().round(12), axis=0)) / len(xs)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=8000, help="samples per method and measurement "
                    "(a particle method with K particles runs batch / K populations; rounded up "
                    "to a multiple of K); the floor uses the same number of exact samples")
    ap.add_argument("--ref", type=int, default=48000, help="exact reference samples (a multiple "
                    "of the batch is fastest)")
    ap.add_argument("--floor-draws", type=int, default=64,
                    help="draws of the floor to average (the sw of n exact samples is right-skewed: "
                    "8 draws put the bimodal floor 24%% below a 200-draw one, 32 draws 11%%)")
    ap.add_argument("--measurements", type=int, default=2, help="ground truths per setting")
    ap.add_argument("--sigmas", default="0,0.1,0.5")
    ap.add_argument("--quick", action="store_true", help="small run (smoke test)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--only", default="", help="comma-separated substrings: run only the methods "
                    "whose label contains one (the reference rows always run)")
    ap.add_argument("--beds", default="", help="comma-separated substrings of bed names to run")
    ap.add_argument("--schedule", default="uniform", help="the DDIM time schedule (uniform, as in "
                    "most papers; karras or logsnr put more steps near the data)")
    ap.add_argument("--kernel", default="ancestral", help="the particle methods' prior kernel "
                    "(ancestral: DDPM, their default; 2m: second-order multistep, a smaller "
                    "discretisation bias of their target at the same steps)")
    ap.add_argument("--resampling", default="systematic", help="the particle methods' resampling "
                    "scheme (systematic, their default; multinomial; ordered: systematic along "
                    "each population's principal axis)")
    ap.add_argument("--twist", default="pigdm", help="tds's twisting function (pigdm: isotropic, "
                    "its default; tweedie: the network's own covariance of x0 given x_t)")
    ap.add_argument("--tag", default="", help="suffix of the results files (partial runs)")
    ap.add_argument("--no-particles", action="store_true", help="leave out tds, mcgdiff, fps")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.batch, args.measurements, args.ref, args.floor_draws = 50, 300, 1, 2000, 2
    torch.set_num_threads(args.threads)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    SCHEDULE["name"] = args.schedule
    proc = build(PROCESSES.get("vp-linear"), {}, "vp-linear")
    rows = []
    t_start = time.perf_counter()
    particles = [(label, kind, dict(params, kernel=args.kernel, resampling=args.resampling,
                                    **({"twist": args.twist} if kind == "tds" else {})))
                 for label, kind, params in PARTICLES]
    methods = METHODS + ([] if args.no_particles else particles)
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        methods = [m for m in methods if any(k in m[0] for k in keys)]
    beds = [b for b in BEDS if not args.beds or any(k.strip() in b[0] for k in args.beds.split(","))]
    for bed_name, make, ops in beds:
        net = build(NETWORKS.get("gmm"), make(), bed_name)
        for op_name, spec in ops:
            for sy in sigmas:
                acc: dict[str, list] = {}
                for j in range(args.measurements):
                    op = build_operator(spec)
                    op.bind(net.data_shape)
                    g = torch.Generator().manual_seed(100 + j)
                    y = op.measure(net.sample(1, g), sy, g)[0]
                    post = posterior_of(net, op, y, sy)
                    ref = Reference(post.sample(args.ref, torch.Generator().manual_seed(200 + j)))
                    yb = y[None]
                    cases = [("exact posterior", None, None), ("exact score", "score", None),
                             ("prior (no guidance)", "prior", None)] + \
                            [(label, kind, params) for label, kind, params in methods]
                    for label, kind, params in cases:
                        extra = {}
                        if kind is None:
                            # the floor: the mean over several draws of n exact samples (one
                            # draw's sw varies by a third on a bimodal posterior)
                            draws = [evaluate(post.sample(args.batch, torch.Generator().manual_seed(
                                300 + 1000 * d + j)), ref, post, op, yb)
                                for d in range(args.floor_draws)]
                            extra = {key: float(np.mean([m[key] for m in draws])) for key in draws[0]}
                            xs = post.sample(args.batch, torch.Generator().manual_seed(300 + j))
                            nfe, sec = 0, 0.0
                        elif kind == "score":
                            exact = build(NETWORKS.get("gmm"), post.network_params(), "posterior")
                            xs, nfe, sec = run_one(exact, proc, None, args.steps, args.batch, j)
                        elif kind == "prior":
                            xs, nfe, sec = run_one(net, proc, None, args.steps, args.batch, j)
                        else:
                            params = dict(params)
                            sid = params.pop("_solver", None)
                            gd = build(GUIDANCE.get(kind), {"operator": spec, "y": y.tolist(),
                                                            "sigma_y": sy, **params}, kind)
                            xs, nfe, sec = run_one(net, proc, gd, args.steps, args.batch, j, sid)
                            if hasattr(gd, "weighted"):
                                extra = particle_metrics(gd, post, ref)
                        m = evaluate(xs, ref, post, op, yb)
                        m.update(extra)
                        m.update(nfe=nfe, seconds=sec)
                        acc.setdefault(label, []).append(m)
                for label, ms in acc.items():
                    row = {"bed": bed_name, "operator": op_name, "sigma_y": sy, "method": label}
                    for key in ("sw", "mean_err", "resid", "cw_err", "unique", "nfe", "seconds",
                                "sw_w", "cw_err_w", "cw_infl"):
                        row[key] = float(np.mean([m.get(key, np.nan) for m in ms]))
                    rows.append(row)
                    print(f"{bed_name:12s} {op_name:15s} sy={sy:<4g} {label:22s} sw {row['sw']:.3f}  "
                          f"mean_err {row['mean_err']:.3f}  resid {row['resid']:.3g}  "
                          f"modes {row['cw_err']:.3f}  weighted sw {row['sw_w']:.3f} modes "
                          f"{row['cw_err_w']:.3f} infl {row['cw_infl']:.2f}  "
                          f"nfe {row['nfe']:.0f}  {row['seconds']:.1f}s", flush=True)
    roundtrip = inversion_roundtrip(proc)
    print(f"DDIM (eta 0, 50 steps) invert -> regenerate round-trip RMSE on the 8-D mixture: "
          f"{roundtrip['ddim']:.3g}; dopri5 (tol 1e-9): {roundtrip['dopri5']:.3g}")
    args.roundtrip = roundtrip
    total = time.perf_counter() - t_start
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "inverse_exactness" + ("_quick" if args.quick else "")
                        + (f"_{args.tag}" if args.tag else ""))
    with open(stem + ".csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    with open(stem + ".md", "w") as fh:
        fh.write(markdown(rows, args, total))
    print(f"\nwrote {stem}.csv and {stem}.md ({total:.0f}s)")
    print(markdown(rows, args, total))
    return 0


def markdown(rows, args, total) -> str:
    settings = []
    for r in rows:
        key = (r["bed"], r["operator"], r["sigma_y"])
        if key not in settings:
            settings.append(key)
    labels = []
    for r in rows:
        if r["method"] not in labels:
            labels.append(r["method"])
    by = {(r["bed"], r["operator"], r["sigma_y"], r["method"]): r for r in rows}
    out = [f"Sliced W2 to the exact posterior / error of the posterior mean (lower is better). "
           f"vp-linear, DDIM eta=1, {args.steps} {args.schedule} steps, {args.batch} samples "
           + (f"(particle methods: `kernel={args.kernel}`) " if args.kernel != "ancestral" else "")
           + (f"(particle methods: `resampling={args.resampling}`) "
              if getattr(args, "resampling", "systematic") != "systematic" else "")
           + (f"(tds: `twist={args.twist}`) " if getattr(args, "twist", "pigdm") != "pigdm"
              else "") +
           f"(against {args.ref} exact ones; floor: mean of {args.floor_draws} draws), mean over "
           f"{args.measurements} measurement(s) per column; exact GMM denoiser as the prior. "
           f"`exact posterior`: finite-sample floor; `exact score`: solver floor."
           + (" `ir-sde` rows run on their own ir-sde process (the `+ mrs` row with the MRS "
              "solver, same steps and schedule)." if any(r["method"].startswith("ir-sde")
                                                      for r in rows) else "") + "\n"]
    for bed in dict.fromkeys(s[0] for s in settings):
        cols = [s for s in settings if s[0] == bed]
        out.append(f"\n**{bed}**\n")
        out.append("| method | " + " | ".join(f"{op}, σy={sy:g}" for _, op, sy in cols) + " |")
        out.append("|---|" + "---|" * len(cols))
        for lab in labels:
            cells = []
            for b, op, sy in cols:
                r = by.get((b, op, sy, lab))
                cells.append("" if r is None else f"{r['sw']:.3f} / {r['mean_err']:.3f}")
            out.append(f"| {lab} | " + " | ".join(cells) + " |")
    beds = list(dict.fromkeys(s[0] for s in settings))
    out.append("\n**sw / exact-sample floor at the same n (mean over a bed's columns): the output "
               "(each population's particles after the final resampling, populations pooled) and, "
               "for particle methods, [the resampling-free weighted estimate]; modes: the largest "
               "error of the pooled posterior mode weights (output [weighted]); infl: the variance "
               "of a population's mode weights over K iid samples' (K / ESS of the modes); "
               "distinct: the fraction of distinct samples; NFE and wall time per run**\n")
    out.append("| method | " + " | ".join(beds) + " | modes | infl | distinct | NFE | seconds |")
    out.append("|---|" + "---|" * (len(beds) + 5))
    for lab in labels:
        cells, nfe, sec, uniq, cwe, cww, infl = [], [], [], [], [], [], []
        for bed in beds:
            ratios, wr = [], []
            for b, op, sy in settings:
                r, f = by.get((b, op, sy, lab)), by.get((b, op, sy, "exact posterior"))
                if b == bed and r is not None and f is not None and f["sw"] > 0:
                    ratios.append(r["sw"] / f["sw"])
                    wr.append(r["sw_w"] / f["sw"])
                    for acc, key in ((nfe, "nfe"), (sec, "seconds"), (uniq, "unique"),
                                     (cwe, "cw_err"), (cww, "cw_err_w"), (infl, "cw_infl")):
                        acc.append(r[key])
            w = f" [{np.mean(wr):.2f}x]" if wr and np.isfinite(np.mean(wr)) else ""
            cells.append(f"{np.mean(ratios):.2f}x{w}" if ratios else "")
        mw = f" [{np.mean(cww):.3f}]" if np.isfinite(np.mean(cww)) else ""
        fi = f"{np.mean(infl):.1f}" if np.isfinite(np.mean(infl)) else ""
        out.append(f"| {lab} | " + " | ".join(cells) + f" | {np.mean(cwe):.3f}{mw} | {fi} | "
                   f"{np.mean(uniq):.2f} | {np.mean(nfe):.0f} | {np.mean(sec):.2f} |")
    rt = getattr(args, "roundtrip", None)
    if rt:
        out.append(f"\nPF-ODE inversion round trip (invert, then regenerate from the noise) on the 8-D "
                   f"mixture: RMSE {rt['ddim']:.3g} with DDIM (eta 0) at 50 steps, "
                   f"{rt['dopri5']:.3g} with dopri5 (tolerance 1e-9).\n")
    out.append(f"\n(total {total:.0f} s on the CPU, {args.threads} thread(s); load average at the "
               f"end: {os.getloadavg()[0]:.1f})\n")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())

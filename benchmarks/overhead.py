"""Engine overhead: wall time of a sampling run against the bare network calls it made.

The network is a real trained-model network of realistic cost: a ``mlp`` model file (residual
MLP, width 512, depth 4, embedding 128, EDM preconditioning, eps-prediction, random weights),
loaded through the ``file`` network kind exactly as a trained model is, on a batch of 4096 2-D
points, float32, EDM process. For every registered solver, one run of --steps steps records the
(x, t) of each network call; then, alternating, the run is timed end to end (``SamplingRun.run``:
schedule, solver arithmetic, parameterization conversions, finiteness checks, noise, the final
denoise) and the same calls are replayed straight into ``network.predict``.

    overhead           = (run - time inside network.predict during that run) / time inside it
    overhead vs replay = (run - replay of the same calls) / replay

Both are medians over --repeats. The first is measured within one run, so other load on the
machine cancels out; the second compares separate timings and carries the machine's noise.

    python benchmarks/overhead.py [--batch 4096] [--steps 10] [--repeats 3] [--threads 1]

Prints a table and writes benchmarks/results/overhead.csv and overhead.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from studio.core.model import Denoiser  # noqa: E402
from studio.core.modelfile import ModelSpec, save_model  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.pipeline import build_solver  # noqa: E402
from studio.core.registry import NETWORKS, PROCESSES, SOLVERS  # noqa: E402
from studio.core.runner import SamplingRun  # noqa: E402

RESULTS = os.path.join(HERE, "results")


def make_network(width: int, depth: int, folder: str):
    spec = ModelSpec(
        architecture="mlp", arch_config={"width": width, "depth": depth, "emb_dim": 128},
        parameterization="eps", process={"kind": "edm", "params": {}}, data_shape=[2],
        precond="edm", sigma_data=0.5, time_input="log-sigma", num_classes=0, class_dropout=0.0,
        class_names=None, training={"steps": 0}, name="overhead-mlp",
        description="random weights, for timing", data_kind="points", shift=[0.0, 0.0], scale=1.0)
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = spec.build_model().net.state_dict()
    # perturb every weight so that no zero-initialised layer short-circuits the work
    state = {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in state.items()}
    path = os.path.join(folder, "overhead-mlp.safetensors")
    save_model(path, state, spec)
    return build(NETWORKS.get("file"), {"path": path}, "network")


class Instrument:
    """Wraps ``network.predict``: keeps a copy of each call's inputs (``record``) or adds up the
    wall time spent inside it (``seconds``)."""

    def __init__(self, net, record: bool = False):
        self.net, self.record, self.calls, self.seconds = net, record, [], 0.0
        self.inner = net.predict

    def __enter__(self):
        def predict(x, t, process, labels=None):
            if self.record:
                self.calls.append((x.clone(), t.clone() if torch.is_tensor(t) else t))
            start = time.perf_counter()
            out = self.inner(x, t, process, labels)
            self.seconds += time.perf_counter() - start
            return out
        self.net.predict = predict
        return self

    def __exit__(self, *exc):
        del self.net.predict  # back to the class's method


def time_run(den, solver, x_T) -> tuple[float, float]:
    """(wall time of the run, time inside the network during it)."""
    with Instrument(den.network) as inst:
        start = time.perf_counter()
        SamplingRun(den, solver, x_T, seed=0).run()
        total = time.perf_counter() - start
    return total, inst.seconds


def time_bare(net, proc, calls) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for x, t in calls:
            net.predict(x, t, proc)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--solvers", default="", help="comma-separated ids (default: all fixed-grid)")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)

    proc = build(PROCESSES.get("edm"), {}, "edm")
    folder = tempfile.mkdtemp(prefix="studio-overhead-")
    net = make_network(args.width, args.depth, folder)
    g = torch.Generator().manual_seed(0)
    x_T = (torch.randn(args.batch, 2, generator=g) * proc.prior_std).to(torch.float32)
    ids = args.solvers.split(",") if args.solvers else [
        s for s, cls in SOLVERS.items() if not cls.adaptive]

    rows = []
    print(f"network: mlp width {args.width}, depth {args.depth}, batch {args.batch}, float32, "
          f"{args.threads} thread(s); {args.steps} steps; median of {args.repeats}")
    print(f"{'solver':22s} {'NFE':>4s} {'run s':>8s} {'in net s':>8s} {'bare s':>8s} "
          f"{'ms/call':>8s} {'overhead':>9s} {'vs replay':>9s}")
    for sid in ids:
        solver = build_solver(sid, {"steps": args.steps}, sid)
        den = Denoiser(net, proc)
        with Instrument(net, record=True) as rec:
            SamplingRun(den, solver, x_T).run()  # warm-up, and the calls to replay
        calls = rec.calls
        runs, inside, bares = [], [], []
        for _ in range(args.repeats):
            total, in_net = time_run(den, solver, x_T)
            runs.append(total)
            inside.append(in_net)
            bares.append(time_bare(net, proc, calls))
        # in-run: engine time = run - time inside the network, measured in the same run (robust
        # to other load on the machine); replay: run against a separate replay of the calls
        over = statistics.median((r - i) / i for r, i in zip(runs, inside))
        run_s, in_s, bare_s = (statistics.median(v) for v in (runs, inside, bares))
        replay = (run_s - bare_s) / bare_s
        rows.append({"solver": sid, "nfe": len(calls), "run_s": run_s, "in_network_s": in_s,
                     "bare_s": bare_s, "per_call_ms": 1e3 * bare_s / len(calls),
                     "overhead_pct": 100 * over, "overhead_vs_replay_pct": 100 * replay,
                     "runs_s": runs, "in_network_runs_s": inside, "bares_s": bares})
        print(f"{sid:22s} {len(calls):4d} {run_s:8.3f} {in_s:8.3f} {bare_s:8.3f} "
              f"{rows[-1]['per_call_ms']:8.1f} {100 * over:8.3f}% {100 * replay:8.2f}%", flush=True)

    worst = max(rows, key=lambda r: r["overhead_pct"])
    mean = statistics.mean(r["overhead_pct"] for r in rows)
    print(f"\nmean overhead {mean:.2f}%, worst {worst['overhead_pct']:.2f}% ({worst['solver']})")
    with open(os.path.join(args.out, "overhead.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["solver", "nfe", "run_s", "in_network_s", "bare_s",
                                          "per_call_ms", "overhead_pct", "overhead_vs_replay_pct"])
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()
                        if k in w.fieldnames})
    meta = {"batch": args.batch, "width": args.width, "depth": args.depth, "steps": args.steps,
            "repeats": args.repeats, "threads": args.threads, "torch": torch.__version__,
            "machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "mean_overhead_pct": mean,
            "worst_overhead_pct": worst["overhead_pct"], "rows": rows}
    with open(os.path.join(args.out, "overhead.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {os.path.join(args.out, 'overhead.csv')} and overhead.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Sweep scaling: one 64-cell sweep run serially (``local``), on a pool of local processes
(``processes``) and as Ray tasks on a local Ray instance (``ray``), with each executor's
per-cell overhead.

The sweep: an eight-Gaussians mixture (gmm network, exact denoiser), 4 solvers x 4 NFE budgets x 4 seeds
(``--axis run.seed``) = 64 cells, batch ``--batch``; metrics sliced Wasserstein and NFE (no
reference endpoint, so the driver's own serial work stays small: see docs/SCALE.md). Every
executor's samples are checked equal to the serial run's, bit for bit.

Per-cell overhead: a second 64-cell sweep whose cells do almost nothing (batch 4, 2 NFE), so its
wall time divided by 64 is what an executor adds per cell (task hand-off, result transfer, the
driver's bookkeeping). Pool / cluster start-up is timed apart ("start"), and the parallel runs
are timed warm (pool started, Ray workers imported; the serial driver warmed the same way), each
the median of ``--repeats`` runs.

    python benchmarks/sweep_scaling.py [--workers 2] [--batch 4000] [--quick] [--repeats 3]

Prints a table and writes benchmarks/results/sweep_scaling.json and .md, with the machine's
load average (timings on a shared, loaded machine understate the speed-up).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from studio.core.compare import CompareSpec, ComparisonRun  # noqa: E402
from studio.core.compare.axes import Axis  # noqa: E402
from studio.core.compare.executors import ProcessExecutor  # noqa: E402
from studio.core.pipeline import Pipeline  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
SOLVERS = ["euler", "heun", "dpm-solver++-2m", "ddim:eta=1"]


def sweep(batch: int, nfes: list[int], seeds: int) -> CompareSpec:
    pipe = Pipeline.from_dict({
        "format": "studio.pipeline/1",
        "nodes": {"p": {"type": "process", "kind": "edm", "params": {}},
                  "n": {"type": "network", "kind": "gmm", "params": {
                      "means": [[2 * math.cos(k * math.pi / 4), 2 * math.sin(k * math.pi / 4)]
                                for k in range(8)],
                      "vars": [[0.0225, 0.0225]] * 8}},
                  "s": {"type": "solver", "kind": "euler", "params": {"nfe": 10}}},
        "links": [["p", "n"], ["n", "s"]],
        "run": {"batch": batch, "seed": 0, "dtype": "float64"}})
    return CompareSpec.from_pipeline(pipe, nfes, SOLVERS, axes=[Axis("run.seed", list(range(seeds)))],
                                     metrics=["swd", "nfe"], n_data=2000)


def timed(spec, executor=None, repeats: int = 1) -> tuple[float, object]:
    """The median wall time of ``repeats`` runs, and the last run's comparison."""
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        comp = ComparisonRun(spec, executor=executor).run()
        walls.append(time.perf_counter() - t0)
    return sorted(walls)[len(walls) // 2], comp


def same(a, b) -> bool:
    return all((r.samples is None and b.results[i].samples is None)
               or torch.equal(r.samples, b.results[i].samples) for i, r in a.results.items())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4000)
    ap.add_argument("--quick", action="store_true", help="batch 1000")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per executor (median)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    batch = 1000 if args.quick else args.batch
    work = sweep(batch, [8, 16, 24, 32], 4)
    tiny = sweep(4, [2, 3, 4, 5], 4)
    assert len(work.cells()) == 64 and len(tiny.cells()) == 64
    load_before = os.getloadavg()
    rows = []

    timed(sweep(4, [2], 1))  # warm up the driver (first-call costs) as the pools are warmed
    serial, ref = timed(work, repeats=args.repeats)
    serial_tiny, _ = timed(tiny, repeats=args.repeats)
    rows.append({"executor": "local", "workers": 1, "start_s": 0.0, "wall_s": serial,
                 "speedup": 1.0, "overhead_ms_per_cell": 1000 * serial_tiny / 64, "identical": True})
    print(f"local      wall {serial:7.2f}s  overhead {1000 * serial_tiny / 64:6.1f} ms/cell", flush=True)

    t0 = time.perf_counter()
    pool = ProcessExecutor(workers=args.workers)
    timed(sweep(4, [2], 1), pool)  # start the pool and import torch in every worker
    start = time.perf_counter() - t0
    wall, comp = timed(work, pool, args.repeats)
    wall_tiny, _ = timed(tiny, pool, args.repeats)
    pool.close()
    rows.append({"executor": "processes", "workers": args.workers, "start_s": start, "wall_s": wall,
                 "speedup": serial / wall, "overhead_ms_per_cell": 1000 * wall_tiny / 64,
                 "identical": same(ref, comp)})
    print(f"processes  wall {wall:7.2f}s  speed-up {serial / wall:4.2f}x  overhead "
          f"{1000 * wall_tiny / 64:6.1f} ms/cell  (start {start:.1f}s)", flush=True)

    try:
        import ray  # noqa: F401

        from studio.core.compare.rayexec import RayExecutor, start_local_ray
    except ImportError:
        ray = None
    if ray is not None:
        t0 = time.perf_counter()
        start_local_ray(args.workers)
        ex = RayExecutor()
        timed(sweep(4, [2], args.workers), ex)  # workers up
        start = time.perf_counter() - t0
        wall, comp = timed(work, ex, args.repeats)
        wall_tiny, _ = timed(tiny, ex, args.repeats)
        ray.shutdown()
        rows.append({"executor": "ray", "workers": args.workers, "start_s": start, "wall_s": wall,
                     "speedup": serial / wall, "overhead_ms_per_cell": 1000 * wall_tiny / 64,
                     "identical": same(ref, comp)})
        print(f"ray        wall {wall:7.2f}s  speed-up {serial / wall:4.2f}x  overhead "
              f"{1000 * wall_tiny / 64:6.1f} ms/cell  (start {start:.1f}s)", flush=True)

    load_after = os.getloadavg()
    out = {"cells": 64, "batch": batch, "solvers": SOLVERS, "nfe": [8, 16, 24, 32], "seeds": 4,
           "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
           "repeats": args.repeats, "rows": rows, "date": time.strftime("%Y-%m-%d %H:%M")}
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "sweep_scaling.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    md = [f"64-cell sweep (eight Gaussians, batch {batch}, 4 solvers x 4 NFE x 4 seeds; median of "
          f"{args.repeats} warm runs), "
          f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / "
          f"{load_after[0]:.1f} after", "",
          "| executor | workers | start-up | wall (warm) | speed-up | overhead per cell | samples identical |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['executor']} | {r['workers']} | {r['start_s']:.1f} s | {r['wall_s']:.2f} s | "
                  f"{r['speedup']:.2f}x | {r['overhead_ms_per_cell']:.1f} ms | {r['identical']} |")
    with open(os.path.join(RESULTS, "sweep_scaling.md"), "w") as fh:
        fh.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

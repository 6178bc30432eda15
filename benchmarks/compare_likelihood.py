"""Cost of the comparison engine, the likelihood and the diagnostics on analytic 2-D models.

    python benchmarks/compare_likelihood.py [--threads 1]

Prints wall times (CPU). Not a test: numbers depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from studio.core import diagnostics as D  # noqa: E402
from studio.core.compare import CompareSpec, ComparisonRun  # noqa: E402
from studio.core.likelihood import LikelihoodSettings, log_likelihood  # noqa: E402
from studio.core.model import Denoiser  # noqa: E402
from studio.core.pipeline import Pipeline  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = Pipeline.load(os.path.join(ROOT, "examples", "solver_race.json"))
    built = pipe.build()
    spec = CompareSpec.from_pipeline(pipe, [5, 10, 20, 40],
                                     ["euler", "heun", "dpm-solver++-2m", "unipc"])
    run = ComparisonRun(spec, built=built)
    comp, sec = timed(run.run)
    cells = sum(r.seconds for r in comp.results.values())
    ref = list(comp.references.values())[0]
    print(f"compare 4 solvers x 4 NFE, batch {pipe.run.batch}: {sec:.2f}s total, cells {cells:.2f}s, "
          f"reference {ref.seconds:.2f}s ({ref.nfe} NFE, {ref.method})")
    den = Denoiser(built.network, built.process)
    x = built.network.sample(1000, torch.Generator().manual_seed(0))
    exact = built.network.log_prob(x, built.process.t_min, built.process).numpy()
    for tol, prior in ((1e-5, "standard"), (1e-6, "exact")):
        res, sec = timed(lambda: log_likelihood(den, x, LikelihoodSettings(
            rtol=tol, atol=tol, prior=prior, batch_size=1000)))
        mae = float(np.abs(-res.nll - exact).mean())
        print(f"nll 1000 points, exact divergence, rtol=atol={tol:g}, {prior} prior: {sec:.2f}s, "
              f"{res.nfe} field evaluations, MAE vs exact log p {mae:.2e} nats")
    res, sec = timed(lambda: log_likelihood(den, x, LikelihoodSettings(
        divergence="hutchinson", rtol=1e-5, atol=1e-5, batch_size=1000)))
    print(f"nll 1000 points, Hutchinson (1 Rademacher probe): {sec:.2f}s")
    x0 = built.network.sample(256, torch.Generator().manual_seed(1))
    ts = np.geomspace(0.01, 40, 8)
    _, sec = timed(lambda: D.asymmetry_over_time(den, x0, ts))
    print(f"asymmetry, 256 points x 8 times (exact Jacobian): {sec:.2f}s")
    _, sec = timed(lambda: D.fokker_planck_residual(den, x0, ts))
    print(f"Fokker-Planck residual, 256 points x 8 times: {sec:.2f}s")


if __name__ == "__main__":
    main()

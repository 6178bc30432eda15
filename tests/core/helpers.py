"""Shared fixtures-as-functions for the core tests."""
from __future__ import annotations

import torch

from studio.core.model import Denoiser
from studio.core.params import build
from studio.core.pipeline import build_solver
from studio.core.registry import NETWORKS, PROCESSES
from studio.core.runner import SamplingRun

GAUSS = {"mean": [0.5, -0.3], "cov": [[1.0, 0.3], [0.3, 0.5]]}
GMM8 = {"means": [[4 * __import__("math").cos(k * 0.785398), 4 * __import__("math").sin(k * 0.785398)]
                  for k in range(8)], "vars": [[0.1, 0.1]] * 8}


def process(pid: str, **params):
    return build(PROCESSES.get(pid), params, pid)


def network(kind: str, **params):
    return build(NETWORKS.get(kind), params, kind)


def prior(proc, n: int = 64, dim: int = 2, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=g, dtype=torch.float64) * proc.prior_std).to(dtype)


def solve(solver_id: str, proc, net, x_T, **params):
    """Run one solver; returns (SamplingRun, RunResult)."""
    seed = params.pop("seed", 0)
    s = build_solver(solver_id, params, solver_id)
    run = SamplingRun(Denoiser(net, proc), s, x_T, seed=seed)
    return run, run.run()

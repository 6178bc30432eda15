"""DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): multistep, data prediction."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("dpm-solver++-2m")
@dataclass
class DPMSolverPP2M(Solver):
    """Exponential integrator in lambda on the data prediction D; the first step is first order,
    later ones extrapolate D linearly from the previous step: D = (1 + 1/2r) D_i - 1/2r D_{i-1}."""

    title = "DPM-Solver++(2M)"
    order = 2

    def sample(self, ctx, x, ts):
        p = ctx.process
        lam = 0.5 * p.logsnr(ts)  # DPM-Solver's lambda = log(alpha / sigma)
        d_prev, h_prev = None, None
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            d = pred.x0
            h = lam[i + 1] - lam[i]
            if d_prev is None:
                d_hat = d
            else:
                r = h_prev / h
                d_hat = (1 + 0.5 / r) * d - (0.5 / r) * d_prev
            a_n, s_n, s_c = p.alpha(ts[i + 1]), p.sigma(ts[i + 1]), p.sigma(ts[i])
            x = (s_n / s_c) * x - a_n * torch.expm1(-h) * d_hat
            x = x.to(d.dtype)
            d_prev, h_prev = d, h
            yield Step(i + 1, x, d)

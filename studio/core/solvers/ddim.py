"""DDIM (Song, Meng & Ermon 2021), for any affine process; eta > 0 adds fresh noise."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("ddim")
@dataclass
class DDIM(Solver):
    """x_{i+1} = alpha_{i+1} x0 + sqrt(sigma_{i+1}^2 - c^2) eps + c z,
    c = eta sigma_{i+1} sqrt(1 - exp(-(lambda_{i+1} - lambda_i))).  eta = 0: the first-order ODE
    solver (= DPM-Solver-1); eta = 1: ancestral sampling (= DDPM's posterior)."""

    title = "DDIM (eta = 0 ODE, eta > 0 stochastic)"
    order = 1
    eta: float = param(0.0, "noise scale: 0 deterministic, 1 ancestral (DDPM)", min=0.0)

    def is_stochastic(self) -> bool:
        return self.eta > 0

    def sample(self, ctx, x, ts):
        p = ctx.process
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            a_n, s_n = p.alpha(ts[i + 1]), p.sigma(ts[i + 1])
            h = p.logsnr(ts[i + 1]) - p.logsnr(ts[i])
            # eta = 0 needs no noise scale (and then runs backwards too: DDIM inversion)
            c = self.eta * s_n * torch.sqrt(-torch.expm1(-h)) if self.eta > 0 else 0.0 * s_n
            x = a_n * pred.x0 + torch.sqrt(s_n ** 2 - c ** 2) * pred.eps
            if self.eta > 0:
                x = x + c * ctx.randn_like(x)
            yield Step(i + 1, x.to(pred.x.dtype), pred.x0)

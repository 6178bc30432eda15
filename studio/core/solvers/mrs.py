"""MRS (Li, Zhao, Kong, Yang, Zhou, Yin & Li 2024, "MRS: A Fast Sampler for Mean Reverting
Diffusion based on ODE and SDE Solvers"): semi-analytic solutions of the reverse ODE and SDE of a
mean-reverting process, x_t = mu + alpha_t (x_0 - mu) + sigma_t eps (IR-SDE), on the data
prediction x0_theta.

With lambda = log(alpha / sigma) and h = lambda_t - lambda_s, the linear part and the noise are
integrated exactly and the data prediction is extrapolated (multistep, order 2):

    ODE: x_t = mu + (sigma_t / sigma_s) (x_s - mu) + alpha_t (1 - e^{-h}) (D - mu)
    SDE: x_t = mu + (sigma_t / sigma_s) e^{-h} (x_s - mu) + alpha_t (1 - e^{-2h}) (D - mu)
              + sigma_t sqrt(1 - e^{-2h}) z
    D = x0_i + (x0_i - x0_{i-1}) / (2 r),  r = h_{i-1} / h   (D = x0_i on the first step)

mu is the process's ``mu`` (the degraded image in restoration; 0 in generation, where the
formulas are exactly DPM-Solver++(2M) and its SDE variant, as the tests check). Order 2 refers to
the ODE mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("mrs")
@dataclass
class MRS(Solver):
    """MR Sampler (Li et al. 2024): the mean-reverting reverse ODE or SDE solved semi-analytically
    on the data prediction, with a second-order multistep extrapolation."""

    title = "MRS, mean-reverting sampler (ODE or SDE)"
    order = 2
    stochastic = True
    mode: str = param("sde", "the reverse SDE or the probability-flow ODE", choices=("sde", "ode"))
    solver_order: int = param(2, "1: frozen data prediction, 2: multistep extrapolation", min=1,
                              max=2)

    def is_stochastic(self) -> bool:
        return self.mode == "sde"

    def sample(self, ctx, x, ts):
        p = ctx.process
        mu = getattr(p, "mu", 0.0)
        lam = 0.5 * p.logsnr(ts)
        d_prev, h_prev = None, None
        sde = self.mode == "sde"
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            d = pred.x0
            h = lam[i + 1] - lam[i]
            d_hat = d
            if self.solver_order == 2 and d_prev is not None:
                half_inv_r = 0.5 * h / h_prev
                if bool(torch.isfinite(half_inv_r)):
                    d_hat = d + half_inv_r * (d - d_prev)
            s_n, s_c, a_n = p.sigma(ts[i + 1]), p.sigma(ts[i]), p.alpha(ts[i + 1])
            k = 2.0 if sde else 1.0
            decay = torch.exp(-h) if sde else 1.0
            x = mu + ((s_n / s_c) * decay) * (x - mu) - (a_n * torch.expm1(-k * h)) * (d_hat - mu)
            if sde:
                x = x + s_n * torch.sqrt(-torch.expm1(-2.0 * h)) * ctx.randn_like(x)
            x = x.to(d.dtype)
            d_prev, h_prev = d, h
            yield Step(i + 1, x, d)

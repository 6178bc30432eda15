"""The EDM stochastic sampler (Karras et al. 2022, "Elucidating the Design Space of
Diffusion-Based Generative Models", Algorithm 2).

Each step first "churns": it raises the noise level from sigma_i to sigma_hat = (1 + gamma) sigma_i,
gamma = min(S_churn / N, sqrt(2) - 1) when S_tmin <= sigma_i <= S_tmax (else 0), by adding fresh
noise of std sqrt(sigma_hat^2 - sigma_i^2) S_noise; then takes a Heun step of the PF-ODE from
sigma_hat to sigma_{i+1}. Noise levels are sigma_edm = sigma / alpha, so S_tmin, S_tmax mean the
same on every process; in process coordinates the churn is x_hat = (alpha_hat / alpha_i) x_i +
alpha_hat sqrt(sigma_hat^2 - sigma_i^2) S_noise z, and the Heun step runs in the process's time on
the PF-ODE velocity (on the EDM process, where t = sigma, this is exactly Algorithm 2).
Every step is a Heun step, including the last one (the grid ends at t_min > 0; the final denoise
follows), so a step costs two evaluations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("edm-stochastic")
@dataclass
class EDMStochastic(Solver):
    """Karras et al. 2022, Algorithm 2: noise churn (S_churn, S_tmin, S_tmax, S_noise) followed by
    a Heun step. Order 2 refers to its deterministic limit S_churn = 0 (Heun)."""

    title = "EDM stochastic sampler (churn + Heun)"
    order = 2
    stochastic = True
    evals_per_step = 2
    S_churn: float = param(40.0, "total churn; gamma_i = min(S_churn / steps, sqrt(2) - 1)", min=0.0)
    S_tmin: float = param(0.05, "churn only where sigma_edm >= S_tmin", min=0.0)
    S_tmax: float = param(50.0, "churn only where sigma_edm <= S_tmax", min=0.0)
    S_noise: float = param(1.0, "scale of the churn noise (EDM used 1.003-1.007 with trained "
                           "networks to offset their over-denoising)", min=0.0)

    def is_stochastic(self) -> bool:
        return self.S_churn > 0 and self.S_noise > 0

    def sample(self, ctx, x, ts):
        p = ctx.process
        n = len(ts) - 1
        gamma_max = min(self.S_churn / n, math.sqrt(2.0) - 1.0)
        for i in range(n):
            t = ts[i]
            sig = p.sigma_edm(t)
            gamma = gamma_max if self.S_tmin <= float(sig) <= self.S_tmax else 0.0
            if gamma > 0:
                t_hat = p.t_of_logsnr(-2.0 * torch.log(sig * (1.0 + gamma)))
                t_hat = torch.maximum(t_hat, t)  # the inverse may clip at t_max
                sig_hat = p.sigma_edm(t_hat)
                std = p.alpha(t_hat) * torch.sqrt(torch.clamp(sig_hat ** 2 - sig ** 2, min=0.0))
                x = (p.alpha(t_hat) / p.alpha(t)) * x + (std * self.S_noise) * ctx.randn_like(x)
            else:
                t_hat = t
            h = ts[i + 1] - t_hat
            pred = ctx(x, t_hat)
            d = pred.velocity
            x_euler = x + h * d
            d_next = ctx(x_euler, ts[i + 1]).velocity
            x = (x + 0.5 * h * (d + d_next)).to(pred.x.dtype)
            yield Step(i + 1, x, pred.x0)

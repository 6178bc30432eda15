"""Euler ancestral sampling (Karras et al. 2022 / k-diffusion's ``sample_euler_ancestral``).

Works in the variance-exploding coordinates y = x / alpha, sigma = sigma_edm = sigma / alpha, where
the PF-ODE is dy/dsigma = eps. A step from sigma to sigma_next splits the target noise level into
a deterministic part and fresh noise (k-diffusion's ``get_ancestral_step``):

    sigma_up   = min(sigma_next, eta sigma_next sqrt(1 - sigma_next^2 / sigma^2))
    sigma_down = sqrt(sigma_next^2 - sigma_up^2)
    y_next     = y + (sigma_down - sigma) eps + s_noise sigma_up z

and x_next = alpha_next y_next. Since y = x0 + sigma eps, the Euler part is x0 + sigma_down eps,
which is how it is computed (finite also where alpha = 0 and sigma_edm is infinite).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("euler-ancestral")
@dataclass
class EulerAncestral(Solver):
    """Euler ancestral (Karras et al. 2022; k-diffusion): an Euler step of the PF-ODE in sigma_edm
    down to sigma_down, then fresh noise of std sigma_up back up to sigma_next."""

    title = "Euler ancestral (k-diffusion)"
    order = 1
    stochastic = True
    eta: float = param(1.0, "ancestral noise: 0 is the Euler ODE step, 1 full ancestral sampling",
                       min=0.0)
    s_noise: float = param(1.0, "scale of the added noise", min=0.0)

    def is_stochastic(self) -> bool:
        return self.eta > 0 and self.s_noise > 0

    def sample(self, ctx, x, ts):
        p = ctx.process
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            t_n = ts[i + 1]
            a_n, s_n = p.alpha(t_n), p.sigma(t_n)
            # (sigma_next / sigma)^2 = exp(logsnr_i - logsnr_next) in sigma_edm terms
            ratio2 = torch.exp(p.logsnr(ts[i]) - p.logsnr(t_n))
            up = torch.clamp(self.eta * torch.sqrt(torch.clamp(1.0 - ratio2, min=0.0)), max=1.0)
            down = torch.sqrt(torch.clamp(1.0 - up * up, min=0.0))
            # alpha_next * sigma_edm_next = sigma_next
            x = a_n * pred.x0 + (s_n * down) * pred.eps
            if self.is_stochastic():
                x = x + (self.s_noise * s_n * up) * ctx.randn_like(x)
            yield Step(i + 1, x.to(pred.x.dtype), pred.x0)

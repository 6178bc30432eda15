"""SDE-DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
Diffusion Probabilistic Models"; the stochastic variant of diffusers' ``sde-dpmsolver++`` and
k-diffusion's ``sample_dpmpp_2m_sde``, midpoint solver type).

With lambda = log(alpha / sigma) (half the process's full log-SNR), h = lambda_{i+1} - lambda_i and
the data prediction D_i, the reverse SDE's linear part and noise are integrated exactly:

    x_{i+1} = (sigma_{i+1} / sigma_i) e^{-eta h} x_i + alpha_{i+1} (1 - e^{-(1 + eta) h}) D_hat
              + sigma_{i+1} sqrt(1 - e^{-2 eta h}) s_noise z,
    D_hat   = D_i + (1 / 2r) (D_i - D_{i-1}),   r = h_{i-1} / h   (midpoint; D_hat = D_i at i = 0).

eta = 1 is the reverse SDE (diffusers' algorithm); eta = 0 gives the deterministic DPM-Solver++(2M)
with the midpoint correction.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("dpm-solver++-2m-sde")
@dataclass
class DPMSolverPP2MSDE(Solver):
    """SDE-DPM-Solver++(2M), midpoint (Lu et al. 2022; diffusers/k-diffusion's 2M SDE): a
    multistep exponential integrator of the reverse SDE on the data prediction. Order 2 refers to
    its deterministic limit eta = 0."""

    title = "DPM-Solver++(2M) SDE"
    order = 2
    stochastic = True
    eta: float = param(1.0, "SDE noise: 1 the reverse SDE, 0 the ODE", min=0.0)
    s_noise: float = param(1.0, "scale of the added noise", min=0.0)

    def is_stochastic(self) -> bool:
        return self.eta > 0 and self.s_noise > 0

    def sample(self, ctx, x, ts):
        p = ctx.process
        lam = 0.5 * p.logsnr(ts)
        d_prev, h_prev = None, None
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            d = pred.x0
            h = lam[i + 1] - lam[i]
            d_hat = d
            if d_prev is not None:
                half_inv_r = 0.5 * h / h_prev  # 1 / 2r; 0 after a step from lambda = -inf
                if bool(torch.isfinite(half_inv_r)):
                    d_hat = d + half_inv_r * (d - d_prev)
            s_n, s_c, a_n = p.sigma(ts[i + 1]), p.sigma(ts[i]), p.alpha(ts[i + 1])
            decay = torch.exp(-self.eta * h) if self.eta > 0 else 1.0  # (0 * inf is NaN)
            x = ((s_n / s_c) * decay) * x - (a_n * torch.expm1(-(1.0 + self.eta) * h)) * d_hat
            if self.is_stochastic():
                std = s_n * torch.sqrt(-torch.expm1(-2.0 * self.eta * h)) * self.s_noise
                x = x + std * ctx.randn_like(x)
            x = x.to(d.dtype)
            d_prev, h_prev = d, h
            yield Step(i + 1, x, d)

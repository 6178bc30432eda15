"""DDPM ancestral sampling (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models").

Each step draws x_s from the Gaussian posterior q(x_s | x_t, x0) of the forward process with x0
replaced by the network's prediction. For an affine process x_t = alpha_t x0 + sigma_t eps the
transition s -> t (s < t) is x_t | x_s ~ N(a x_s, b^2 I) with a = alpha_t / alpha_s and
b^2 = sigma_t^2 - a^2 sigma_s^2 = sigma_t^2 (1 - r), r = SNR_t / SNR_s = exp(logsnr_t - logsnr_s).
Bayes' rule gives

    mean = (alpha_t sigma_s^2 / (alpha_s sigma_t^2)) x_t + alpha_s (1 - r) x0
         = (sigma_s / sigma_t) sqrt(r) x_t + alpha_s (1 - r) x0,
    var  = sigma_s^2 (1 - r)                ("small": DDPM's beta-tilde)

which is DDPM's posterior (eq. 6-7) with alpha_bar generalised to any alpha, sigma. DDPM's other
choice, the forward variance b^2 = sigma_t^2 (1 - r) (its beta_t), is ``variance = "large"``.
Everything is written with r = exp(logsnr_t - logsnr_s), so a start where alpha = 0 (rectified
flow at t = 1, logsnr = -inf) gives r = 0: mean alpha_s x0, variance sigma_s^2.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


def posterior_coeffs(process, t: Tensor, s: Tensor, variance: str = "small"):
    """(c_x, c_0, std) with q(x_s | x_t, x0) = N(c_x x_t + c_0 x0, std^2 I) for s < t.

    ``variance`` "small" is the exact posterior variance; "large" is the forward transition's."""
    r = torch.exp(process.logsnr(t) - process.logsnr(s))  # SNR_t / SNR_s in [0, 1]
    one_minus_r = -torch.expm1(process.logsnr(t) - process.logsnr(s))
    sig_t, sig_s = process.sigma(t), process.sigma(s)
    c_x = (sig_s / sig_t) * torch.sqrt(r)
    c_0 = process.alpha(s) * one_minus_r
    scale = sig_s if variance == "small" else sig_t
    std = scale * torch.sqrt(torch.clamp(one_minus_r, min=0.0))
    return c_x, c_0, std


@SOLVERS.register("ddpm")
@dataclass
class DDPM(Solver):
    """DDPM ancestral sampling (Ho et al. 2020): x_s ~ q(x_s | x_t, x0_hat), the exact Gaussian
    posterior of the forward process given the predicted x0, for any alpha, sigma."""

    title = "DDPM (ancestral sampling)"
    order = 1
    stochastic = True
    variance: str = param("small", "posterior variance ('small', beta-tilde) or the forward "
                          "transition's ('large', DDPM's beta_t)", choices=("small", "large"))

    def sample(self, ctx, x, ts):
        p = ctx.process
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            c_x, c_0, std = posterior_coeffs(p, ts[i], ts[i + 1], self.variance)
            x = c_x * x + c_0 * pred.x0 + std * ctx.randn_like(x)
            yield Step(i + 1, x.to(pred.x.dtype), pred.x0)

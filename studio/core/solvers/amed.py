"""AMED-Solver (Zhou, Chen, Wang, Yan, Wang 2024, "Fast ODE-based Sampling for Diffusion Models
in Around 5 Steps", CVPR 2024): approximate mean-direction steps.

By the mean value theorem the exact step of the PF-ODE in y = x / alpha over sigma_edm,
dy / d sigma_edm = eps, is y_{i+1} = y_i + (sigma_{i+1} - sigma_i) eps(x_s, s) for some s between
the two times; AMED places s_i at sigma_s = sigma_i^r_i sigma_{i+1}^(1 - r_i) (log-SNR
lambda_i + (1 - r_i) h_i), reaches it with a DDIM step, and scales the mean direction by c_i:

    x_s     = alpha_s x0_i + sigma_s eps_i,
    x_{i+1} = alpha_{i+1} x0_i + sigma_{i+1} eps_i - sigma_{i+1} (e^{h_i} - 1) (c_i eps(x_s, s) - eps_i),

two evaluations a step. With r_i = 1/2 and c_i = 1 this is DPM-Solver-2 (Lu et al. 2022), the
base an unfitted AMED equals. The paper predicts (r_i, c_i) per sample with a small network on
the denoiser's bottleneck features, trained by distillation from a teacher solve; here, for every
network, (r_i, c_i) are per-step constants fitted with the grid to the endpoints of exact solves
from the fit's own prior samples (:mod:`studio.core.solvers._fitted`); that per-sample predictor
and the paper's analytical first step are not implemented. A step that starts where alpha = 0 is
DPM-Solver-2's Runge-Kutta midpoint step on the data-prediction ODE (its r, c unused).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..registry import SOLVERS
from ._common import ab, from_pure_noise, rho_rk
from ._fitted import FittedSolver
from .base import Step


@SOLVERS.register("amed")
@dataclass
class AMED(FittedSolver):
    """AMED-Solver: per-step intermediate time and direction scale, fitted with the grid
    (Zhou et al. 2024); unfitted it is DPM-Solver-2."""

    title = "AMED-Solver (fitted mean-direction steps; Zhou et al. 2024)"
    paper = "Zhou et al. 2024, Fast ODE-based Sampling for Diffusion Models in Around 5 Steps"
    order = 2
    evals_per_step = 2
    base = ("dpm-solver-2", {})

    def n_coefficients(self, n):
        return 2 * n

    def base_coefficients(self, process, ts):
        return torch.tensor([0.5, 1.0] * (len(ts) - 1), dtype=torch.float64)

    def run_with(self, ctx, x, ts, c):
        p = ctx.process
        lam = 0.5 * p.logsnr(ts)
        for i in range(len(ts) - 1):
            s, t = ts[i], ts[i + 1]
            if from_pure_noise(float(lam[i].detach()), float(lam[i + 1].detach())):
                x, pred = rho_rk(ctx, x, s, t, [0.0, 0.5], [[0.0, 0.0], [0.5, 0.0]], [0.0, 1.0])
                yield Step(i + 1, x, pred.x0)
                continue
            r, scale = c[2 * i], c[2 * i + 1]
            h = lam[i + 1] - lam[i]
            pred = ctx(x, s)
            x0, eps = pred.x0, pred.eps
            lo, hi = torch.minimum(s, t), torch.maximum(s, t)
            mid = torch.clamp(p.t_of_logsnr(2.0 * (lam[i] + (1.0 - r) * h)), lo, hi)
            a1, g1 = ab(p, mid)
            eps1 = ctx((a1 * x0 + g1 * eps).to(x.dtype), mid).eps
            a_t, s_t = ab(p, t)
            x = (a_t * x0 + s_t * eps - s_t * torch.expm1(h) * (scale * eps1 - eps)).to(x.dtype)
            yield Step(i + 1, x, x0)

"""AMED-Solver (Zhou, Chen, Wang, Yan, Wang 2024, "Fast ODE-based Sampling for Diffusion Models
in Around 5 Steps", CVPR 2024): approximate mean-direction steps.

By the mean value theorem the exact step of the PF-ODE in y = x / alpha over sigma_edm,
dy / d sigma_edm = eps, is y_{i+1} = y_i + (sigma_{i+1} - sigma_i) eps(x_s, s) for some s between
the two times; AMED places s_i at sigma_s = sigma_i^r_i sigma_{i+1}^(1 - r_i) (log-SNR
lambda_i + (1 - r_i) h_i), reaches it with a DDIM step, and scales the mean direction by c_i:

    x_s     = alpha_s x0_i + sigma_s eps_i,
    x_{i+1} = alpha_{i+1} x0_i + sigma_{i+1} eps_i - sigma_{i+1} (e^{h_i} - 1) (c_i eps(x_s, s) - eps_i),

two evaluations a step. With r_i = 1/2 and c_i = 1 this is DPM-Solver-2 (Lu et al. 2022), the
base an unfitted AMED equals. (r_i, c_i) are fitted with the grid to the endpoints of exact solves
from the fit's own prior samples (:mod:`studio.core.solvers._fitted`).

The paper predicts (r_i, c_i) per sample, with a small network on the denoiser's bottleneck
features, trained by distillation from a teacher solve. A studio network has no common bottleneck,
so ``predictor: true`` reads features every network gives, from the evaluation the step has just
made and the one before it (no extra evaluation), per sample:

    phi_1 = log rms(eps_i),   phi_2 = log(1 + rms(x0_i - x0_{i-1})),   phi_3 = cos(eps_i, eps_{i-1})

(phi_2 = 0 and phi_3 = 1 on the first step), and the step's predictor is a linear head on them,
r_i(x) = r_i + w_i . phi, c_i(x) = c_i + v_i . phi, fitted with everything else (6 more
coefficients a step; zero weights are the per-step constants), starting from the constants' fit.
Measured (docs/FITTED.md) it lowers the error on every frontier problem, most where the constants
are weakest (32-D mixture at NFE 5: 1.11x to 0.55x the best diffusers error). The paper's
analytical first step is not implemented (it assumes data of mean zero). A step
that starts where alpha = 0 is DPM-Solver-2's Runge-Kutta midpoint step on the data-prediction
ODE (its r, c unused).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from ._common import ab, from_pure_noise, rho_rk
from ._fitted import HEAD_SCALE, FittedSolver, PerSampleHeads, column
from .base import Step


@SOLVERS.register("amed")
@dataclass
class AMED(PerSampleHeads, FittedSolver):
    """AMED-Solver: per-step intermediate time and direction scale, fitted with the grid
    (Zhou et al. 2024); unfitted it is DPM-Solver-2."""

    title = "AMED-Solver (fitted mean-direction steps; Zhou et al. 2024)"
    paper = "Zhou et al. 2024, Fast ODE-based Sampling for Diffusion Models in Around 5 Steps"
    order = 2
    evals_per_step = 2
    base = ("dpm-solver-2", {})

    predictor: bool = param(False, "predict (r, c) per sample from features of the step's own "
                            "evaluations (a linear head per step, fitted with the grid); off: "
                            "per-step constants")

    def n_coefficients(self, n):
        return 2 * n + self.n_heads(n)

    def base_coefficients(self, process, ts):
        n = len(ts) - 1
        c = torch.tensor([0.5, 1.0] * n, dtype=torch.float64)
        return torch.cat([c, torch.zeros(self.n_heads(n), dtype=torch.float64)])

    def coefficient_scale(self, process, ts):
        n = len(ts) - 1
        scale = torch.ones(self.n_coefficients(n), dtype=torch.float64)
        scale[2 * n:] = HEAD_SCALE
        return scale

    def _per_sample(self, c, i, n, eps, x0, prev):
        """(r, c) of step i: the constants, plus the heads when the predictor is on (then one
        value per sample)."""
        r, scale = c[2 * i], c[2 * i + 1]
        if not self.predictor:
            return r, scale
        dr, dc = self.heads(c, 2 * n, i, eps, x0, prev)
        return r + dr, scale + dc

    def run_with(self, ctx, x, ts, c):
        p = ctx.process
        lam = 0.5 * p.logsnr(ts)
        n, prev = len(ts) - 1, None
        for i in range(n):
            s, t = ts[i], ts[i + 1]
            if from_pure_noise(float(lam[i].detach()), float(lam[i + 1].detach())):
                x, pred = rho_rk(ctx, x, s, t, [0.0, 0.5], [[0.0, 0.0], [0.5, 0.0]], [0.0, 1.0])
                prev = None
                yield Step(i + 1, x, pred.x0)
                continue
            h = lam[i + 1] - lam[i]
            pred = ctx(x, s)
            x0, eps = pred.x0, pred.eps
            r, scale = self._per_sample(c, i, n, eps, x0, prev)
            prev = (eps, x0)
            lo, hi = torch.minimum(s, t), torch.maximum(s, t)
            mid = torch.clamp(p.t_of_logsnr(2.0 * (lam[i] + (1.0 - r) * h)), lo, hi)
            if mid.dim():  # one intermediate time per sample
                a1, g1 = (column(v, x) for v in (p.alpha(mid), p.sigma(mid)))
                scale = column(scale, x)
            else:
                a1, g1 = ab(p, mid)
            eps1 = ctx((a1 * x0 + g1 * eps).to(x.dtype), mid).eps
            a_t, s_t = ab(p, t)
            x = (a_t * x0 + s_t * eps - s_t * torch.expm1(h) * (scale * eps1 - eps)).to(x.dtype)
            yield Step(i + 1, x, x0)

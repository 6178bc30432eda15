"""Predictor-corrector sampling (Song et al. 2021, "Score-Based Generative Modeling through
Stochastic Differential Equations", Algorithms 1-3).

Each step takes one predictor step of the reverse SDE from t_i to t_{i+1}, then
``corrector_steps`` steps of Langevin MCMC targeting p_{t_{i+1}} (one network evaluation each):

    step = 2 (snr ||z|| / ||score||)^2,   x <- x + step score(x, t_{i+1}) + sqrt(2 step) z,

with the norms averaged over the batch, as in the authors' implementation (a per-sample ratio is
unstable in low dimension, where ||score|| vanishes at the modes).

Predictors: ``reverse-diffusion`` (Song et al.'s eq. 46 generalised to any affine process: the
forward transition x_t = a x_s + b z, a = alpha_t / alpha_s, b^2 = sigma_t^2 - a^2 sigma_s^2, run
backwards: x_s = (2 - a) x_t + b^2 score + b z) and ``euler-maruyama`` (see that solver). A step
that starts where alpha = 0 uses the exact frozen-x0 posterior instead (both predictors are
singular or meaningless there).

Correctors: ``langevin`` (above) and ``lml``, the Levenberg-Marquardt-Langevin step (Wang et al.
2025; see :mod:`studio.core.solvers._lml`): Langevin preconditioned by a damped low-rank Hessian.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step
from ._lml import lml_step
from .ddpm import posterior_coeffs
from .euler_maruyama import em_step, singular


def reverse_diffusion_step(ctx, pred, x: Tensor, t: Tensor, t_next: Tensor) -> Tensor:
    """Song et al.'s reverse-diffusion predictor from t to t_next < t."""
    p = ctx.process
    if singular(p, t):
        c_x, c_0, std = posterior_coeffs(p, t, t_next)
        return c_x * x + c_0 * pred.x0 + std * ctx.randn_like(x)
    a = p.alpha(t) / p.alpha(t_next)
    b2 = p.sigma(t) ** 2 * -torch.expm1(p.logsnr(t) - p.logsnr(t_next))
    return (2.0 - a) * x + b2 * pred.score + torch.sqrt(b2) * ctx.randn_like(x)


def langevin_step(ctx, x: Tensor, t: Tensor, snr: float) -> Tensor:
    """One Langevin corrector step at time t with Song et al.'s signal-to-noise step size."""
    score = ctx(x, t).score
    z = ctx.randn_like(x)
    g = score.reshape(score.shape[0], -1).norm(dim=-1).mean()
    n = z.reshape(z.shape[0], -1).norm(dim=-1).mean()
    step = 2.0 * (snr * n / torch.clamp(g, min=torch.finfo(g.dtype).tiny)) ** 2
    return x + step * score + torch.sqrt(2.0 * step) * z


@SOLVERS.register("pc")
@dataclass
class PredictorCorrector(Solver):
    """Predictor-corrector (Song et al. 2021): a reverse-diffusion or Euler-Maruyama predictor
    step, then Langevin corrector steps at the new time; 1 + corrector_steps evaluations a step."""

    title = "Predictor-corrector (reverse SDE + Langevin)"
    order = 1
    stochastic = True
    evals_per_step = 2  # with the default corrector_steps = 1; see nfe_for_steps
    predictor: str = param("reverse-diffusion", "predictor step",
                           choices=("reverse-diffusion", "euler-maruyama"))
    corrector_steps: int = param(1, "Langevin corrector steps after each predictor step", min=0)
    snr: float = param(0.16, "corrector signal-to-noise ratio r (sets the Langevin step size)",
                       min=0.0)
    corrector: str = param("langevin", "corrector step: Langevin (Song et al.) or "
                           "Levenberg-Marquardt-Langevin (Wang et al. 2025)",
                           choices=("langevin", "lml"))
    damping: float = param(10.0, "lml: damping mu sigma_t^2 (large = plain Langevin; small biases "
                           "the chain, see _lml)", min=1e-12)

    def nfe_for_steps(self, steps: int) -> int:
        final = 1 if self.denoise_final else 0
        return (1 + self.corrector_steps) * steps + final

    def sample(self, ctx, x, ts):
        predict = reverse_diffusion_step if self.predictor == "reverse-diffusion" else em_step
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            x = predict(ctx, pred, x, ts[i], ts[i + 1]).to(pred.x.dtype)
            for _ in range(self.corrector_steps):
                if self.corrector == "lml":
                    x = lml_step(ctx, x, ts[i + 1], self.snr, self.damping).to(pred.x.dtype)
                else:
                    x = langevin_step(ctx, x, ts[i + 1], self.snr).to(pred.x.dtype)
            yield Step(i + 1, x, pred.x0)

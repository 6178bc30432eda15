"""RED-diff (Mardani, Song, Kautz & Vahdat 2024, "A Variational Perspective on Solving Inverse
Problems with Diffusion Models").

Optimises x0 = mu directly (Adam), with the diffusion model as a regulariser ("regularisation by
denoising" at every noise level), walking the solver's time grid from noise to data:

    x_t = alpha_t mu + sigma_t eps,   eps ~ N(0, I)
    loss = obs_weight ||y - A mu||^2 / (2 M) + lam (sigma_t / alpha_t) <sg(eps_hat(x_t) - eps), mu> / D

(M measured values, D coordinates; the gradient never goes through the network). mu starts at
A^+ y. Paper settings: lam = 0.25, Adam lr 0.1, betas (0.9, 0.99), 1000 steps. The solver supplies
only its time grid; each step reports x = alpha mu + sigma eps at the next time and x0 = mu, and
the run's result is mu.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inverse.guidance import InverseGuidance, final_prediction
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("red-diff")
@dataclass
class REDDiff(InverseGuidance):
    """Variational posterior mode: Adam on mu with a score-based regulariser."""

    title = "RED-diff (variational, regularisation by denoising)"
    lam: float = param(0.25, "regulariser weight lambda (times sigma_t/alpha_t) (paper: 0.25)",
                       min=0.0)
    lr: float = param(0.1, "Adam learning rate (paper: 0.1)", min=0.0)
    obs_weight: float = param(1.0, "weight of the measurement term", min=0.0)
    beta1: float = param(0.9, "Adam beta1", min=0.0, max=1.0)
    beta2: float = param(0.99, "Adam beta2", min=0.0, max=1.0)

    def drive(self, solver, ctx, x, ts):
        from ..solvers.base import Step
        p, op = ctx.process, self.op
        y = self.y_like(x)
        mu = op.pinv(y) if op.has_pinv else op.adjoint(y)
        mu = mu.to(x.dtype).clone()
        m1, m2 = torch.zeros_like(mu), torch.zeros_like(mu)
        d = mu[0].numel()
        m = max(op.meas_size, 1)
        n = len(ts) - 1
        eps_adam = 1e-8
        for i in range(n):
            t = ts[i]
            a, s = p.alpha(t).to(x.dtype), p.sigma(t).to(x.dtype)
            noise = ctx.randn_like(mu)
            x_t = a * mu + s * noise
            eps_hat = ctx(x_t, t).eps
            snr_inv = s / a if float(a) > 0 else torch.zeros_like(s)   # alpha = 0: eps_hat = eps
            grad = (self.lam * snr_inv) * (eps_hat - noise) / d \
                + self.obs_weight * op.adjoint(op.measured(op.forward(mu)) - y) / m
            k = i + 1
            m1 = self.beta1 * m1 + (1 - self.beta1) * grad
            m2 = self.beta2 * m2 + (1 - self.beta2) * grad * grad
            mhat = m1 / (1 - self.beta1 ** k)
            vhat = m2 / (1 - self.beta2 ** k)
            mu = mu - self.lr * mhat / (torch.sqrt(vhat) + eps_adam)
            tn = ts[i + 1]
            x_next = p.alpha(tn).to(x.dtype) * mu + p.sigma(tn).to(x.dtype) * noise
            fin = final_prediction(ctx, x_next, tn, mu) if k == n else None
            yield Step(k, x_next, mu, final=fin)

"""Euler-Maruyama on the reverse-time SDE (Song et al. 2021, "Score-Based Generative Modeling
through Stochastic Differential Equations", eq. 6; Anderson 1982).

The forward SDE dx = f(t) x dt + g(t) dW has the reverse dx = [f x - g^2 score] dt + g dW_bar,
integrated here from t_i down to t_{i+1} (dt < 0) with the coefficients at the step's start:

    x_{i+1} = x_i + (f x_i - g^2 score(x_i, t_i)) dt + sqrt(g^2 |dt|) z.

f and g^2 come from the process (``Process.f``, ``Process.g2``). Where alpha(t_i) vanishes
(rectified flow or trig at t = 1: sigma_edm beyond ``schedules.SIGMA_EDM_INFINITE``) both are
infinite and no Euler step exists; that one step is taken with the exact solution of the reverse
SDE with the x0-prediction frozen, which is the Gaussian posterior q(x_{i+1} | x_i, x0)
(see ``ddpm.posterior_coeffs``).

A process that declares its own SDE family through ``epsilon(t)`` (the stochastic interpolant) is
integrated on dx = [u - epsilon score] dt + sqrt(2 epsilon) dW_bar instead (:func:`epsilon_step`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..registry import SOLVERS
from ..schedules import SIGMA_EDM_INFINITE
from .base import Solver, Step
from .ddpm import posterior_coeffs


def singular(process, t: Tensor) -> bool:
    """Whether the SDE coefficients blow up at ``t`` (alpha = 0 up to rounding)."""
    s = process.sigma_edm(t)
    return not bool(torch.isfinite(s)) or float(s) > SIGMA_EDM_INFINITE


def em_step(ctx, pred, x: Tensor, t: Tensor, t_next: Tensor) -> Tensor:
    """One Euler-Maruyama step of the reverse SDE from t to t_next < t, given the prediction at
    (x, t); falls back to the exact frozen-x0 step where the coefficients are singular."""
    p = ctx.process
    eps_fn = getattr(p, "epsilon", None)   # a process with its own SDE family (interpolant)
    if eps_fn is not None:
        return epsilon_step(ctx, pred, x, t, t_next, eps_fn(t))
    if singular(p, t):
        c_x, c_0, std = posterior_coeffs(p, t, t_next)
        return c_x * x + c_0 * pred.x0 + std * ctx.randn_like(x)
    dt = t_next - t
    f, g2 = p.f(t), p.g2(t)
    drift = f * x - g2 * pred.score
    return x + dt * drift + torch.sqrt(g2 * (-dt)) * ctx.randn_like(x)


def epsilon_step(ctx, pred, x: Tensor, t: Tensor, t_next: Tensor, e: Tensor) -> Tensor:
    """Euler-Maruyama on dx = [u - e score] dt + sqrt(2 e) dW_bar, the marginal-preserving family
    of a process that declares ``epsilon(t)`` (stochastic interpolants). Where alpha = 0 the step
    is exact for a frozen x0: x' = alpha' x0 + sigma' (r eps + sqrt(1 - r^2) z),
    r = exp(-e |dt| / sigma^2) (the deterministic DDIM step when e = 0)."""
    p = ctx.process
    dt = t_next - t
    if singular(p, t):
        r = torch.exp(-e * (-dt) / p.sigma(t) ** 2)
        a1, s1 = p.alpha(t_next), p.sigma(t_next)
        noise = ctx.randn_like(x) if float(e) > 0 else torch.zeros_like(x)
        return a1 * pred.x0 + s1 * (r * pred.eps + torch.sqrt(1.0 - r * r) * noise)
    out = x + dt * (pred.velocity - e * pred.score)
    if float(e) > 0:
        out = out + torch.sqrt(2.0 * e * (-dt)) * ctx.randn_like(x)
    return out


@SOLVERS.register("euler-maruyama")
@dataclass
class EulerMaruyama(Solver):
    """Euler-Maruyama on the reverse SDE dx = [f x - g^2 score] dt + g dW_bar (Song et al. 2021)."""

    title = "Euler-Maruyama (reverse SDE)"
    order = 1
    stochastic = True

    def sample(self, ctx, x, ts):
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            x = em_step(ctx, pred, x, ts[i], ts[i + 1])
            yield Step(i + 1, x.to(pred.x.dtype), pred.x0)

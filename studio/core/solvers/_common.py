"""Pieces shared by the exponential-integrator and multistep solvers (not a solver itself).

Notation: DPM-Solver's ``lambda = log(alpha / sigma)`` is HALF the engine's ``process.logsnr``;
``sigma_edm = sigma / alpha = exp(-lambda)``; ``rho = alpha / sigma = exp(lambda)``.

A first-order step is always written ``x_next = alpha_next x0 + sigma_next eps`` (DDIM), which is
algebraically ``(alpha_next / alpha) x - sigma_next (e^h - 1) eps`` but stays finite where
``alpha = 0`` (rectified flow and trig at t = 1, where lambda = -inf).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..processes.base import as_time


def ab(p, t):
    """(alpha, sigma) at a scalar time, as Python floats; as 0-d tensors where ``t`` carries a
    gradient (a fit through the solve, :mod:`studio.core.difffit`)."""
    a, s = p.alpha(as_time(t)), p.sigma(as_time(t))
    if isinstance(t, torch.Tensor) and t.requires_grad:
        return a, s
    return float(a), float(s)


def lam(p, t) -> float:
    """DPM-Solver's lambda = log(alpha / sigma) = logsnr / 2 (-inf where alpha = 0)."""
    return 0.5 * float(p.logsnr(as_time(t)))


#: a step whose lambda grows by more than this starts from alpha = 0 up to float32 rounding
#: (alpha_s / sigma_s < 1e-7 alpha_t / sigma_t): noise-prediction formulas, which multiply eps by
#: e^h, lose every digit there, so such a step is taken with :func:`rho_rk` instead.
PURE_NOISE_GAP = 16.0


def from_pure_noise(lam_s: float, lam_t: float) -> bool:
    """Whether a step from lambda_s to lambda_t starts at (numerically) zero signal."""
    return not math.isfinite(lam_s) or lam_t - lam_s > PURE_NOISE_GAP


def t_of_lam(p, lam_value: float, lo, hi) -> Tensor:
    """The time where lambda = ``lam_value``, clamped into [min(lo, hi), max(lo, hi)]."""
    t = p.t_of_logsnr(as_time(2.0 * lam_value))
    a, b = sorted((float(lo), float(hi)))
    return torch.clamp(t, a, b)


def sigma_edm(p, t) -> float:
    a, s = ab(p, t)
    return s / a if a != 0 else math.inf


def rho_rk(ctx, x: Tensor, t0, t1, c: Sequence[float], A: Sequence[Sequence[float]],
           b: Sequence[float], first=None):
    """One explicit Runge-Kutta step on the data-prediction ODE d(x/sigma)/d rho = x0, where
    rho = alpha/sigma.

    This ODE is regular where alpha = 0 (rho = 0), where every exponential integrator in lambda
    degenerates (h = inf); solvers take their first step from such a point with it, with the
    Butcher tableau (c, A, b) of their own order. Stage times lie uniformly in rho.
    ``first`` may pass the prediction at (x, t0) if the caller has it already.
    Returns (x at t1, the prediction at (x, t0)).
    """
    p = ctx.process
    a0, s0 = ab(p, t0)
    a1, s1 = ab(p, t1)
    r0, r1 = a0 / s0, a1 / s1
    H = r1 - r0
    y0 = x / s0
    fs = []
    for i, ci in enumerate(c):
        y = y0 + sum(H * A[i][j] * fs[j] for j in range(i) if A[i][j] != 0)
        if ci == 0:
            ti, si = as_time(t0), s0
        elif ci == 1:
            ti, si = as_time(t1), s1
        else:
            ti = t_of_lam(p, math.log(r0 + ci * H), t0, t1)
            si = ab(p, ti)[1]
        if i == 0 and first is not None:
            pred = first
        else:
            pred = ctx((si * y).to(x.dtype), ti)
        if first is None:
            first = pred
        fs.append(pred.x0)
    y1 = y0 + sum(H * bi * f for bi, f in zip(b, fs) if bi != 0)
    return (s1 * y1).to(x.dtype), first


#: Adams-Bashforth weights for equal steps, newest value first (PNDM's linear multistep)
AB_WEIGHTS = {
    1: (1.0,),
    2: (3 / 2, -1 / 2),
    3: (23 / 12, -16 / 12, 5 / 12),
    4: (55 / 24, -59 / 24, 37 / 24, -9 / 24),
}


def ddim_transfer(p, x: Tensor, s, t, eps: Tensor) -> Tensor:
    """DDIM's step from (x, s) to t with a given noise estimate (PNDM's "transfer" phi):
    x_t = (alpha_t / alpha_s) x + alpha_t (sigma_t / alpha_t - sigma_s / alpha_s) eps."""
    a_s, s_s = ab(p, s)
    a_t, s_t = ab(p, t)
    return ((a_t / a_s) * x + (s_t - a_t * s_s / a_s) * eps).to(eps.dtype)


def lagrange_integrals(nodes: Sequence[float], lo: float, hi: float,
                       weight: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                       quad: int = 8) -> list[float]:
    """int_lo^hi l_j(u) w(u) du for each Lagrange basis polynomial l_j on ``nodes``.

    Gauss-Legendre with ``quad`` points (numpy): exact for polynomial integrands of degree up to
    2 quad - 1, i.e. whenever ``weight`` is None and len(nodes) <= 2 quad. ``hi < lo`` integrates
    backwards (negative orientation), as time runs in sampling.
    """
    u, w = np.polynomial.legendre.leggauss(quad)
    half = 0.5 * (hi - lo)
    u = half * u + 0.5 * (hi + lo)
    w = w * half
    if weight is not None:
        w = w * weight(u)
    out = []
    for j, nj in enumerate(nodes):
        basis = np.ones_like(u)
        for k, nk in enumerate(nodes):
            if k != j:
                basis *= (u - nk) / (nj - nk)
        out.append(float(np.sum(w * basis)))
    return out

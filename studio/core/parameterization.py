"""Exact conversions between the five things a network may predict.

For x_t = alpha x0 + sigma eps (alpha' and sigma' the time derivatives):

    eps       the noise                      eps = (x - alpha x0) / sigma
    x0        the clean data (denoiser)      x0  = (x - sigma eps) / alpha
    v         Salimans & Ho's v              v   = alpha eps - sigma x0
    score     grad log p_t(x)                score = -eps / sigma
    velocity  the probability-flow velocity  u   = alpha' x0 + sigma' eps   (= dx/dt of the PF-ODE)

Every prediction is mapped to the pair (x0, eps) and from it to any other. Each conversion solves
a 2x2 linear system exactly; the determinants that can vanish are named in the docstrings.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

KINDS = ("eps", "x0", "v", "score", "velocity")


@dataclass(frozen=True)
class Coeffs:
    """alpha, sigma and their time derivatives, shaped to broadcast against x."""

    alpha: Tensor
    sigma: Tensor
    dalpha: Tensor
    dsigma: Tensor


def eps_to_x0(x: Tensor, eps: Tensor, c: Coeffs) -> Tensor:
    """x0 = (x - sigma eps) / alpha  (undefined where alpha = 0)."""
    return (x - c.sigma * eps) / c.alpha


def x0_to_eps(x: Tensor, x0: Tensor, c: Coeffs) -> Tensor:
    """eps = (x - alpha x0) / sigma  (undefined where sigma = 0)."""
    return (x - c.alpha * x0) / c.sigma


def v_to_x0_eps(x: Tensor, v: Tensor, c: Coeffs) -> tuple[Tensor, Tensor]:
    """From v = alpha eps - sigma x0: x0 = (alpha x - sigma v)/(alpha^2+sigma^2),
    eps = (sigma x + alpha v)/(alpha^2+sigma^2)."""
    n = c.alpha * c.alpha + c.sigma * c.sigma
    return (c.alpha * x - c.sigma * v) / n, (c.sigma * x + c.alpha * v) / n


def x0_eps_to_v(x0: Tensor, eps: Tensor, c: Coeffs) -> Tensor:
    return c.alpha * eps - c.sigma * x0


def score_to_eps(score: Tensor, c: Coeffs) -> Tensor:
    """eps = -sigma score."""
    return -c.sigma * score


def eps_to_score(eps: Tensor, c: Coeffs) -> Tensor:
    return -eps / c.sigma


def velocity_to_x0_eps(x: Tensor, u: Tensor, c: Coeffs) -> tuple[Tensor, Tensor]:
    """Solve [alpha sigma; alpha' sigma'] [x0; eps] = [x; u].

    The determinant alpha sigma' - alpha' sigma = alpha^2 d(sigma/alpha)/dt is positive for every
    process whose noise-to-signal ratio grows with t, so this is exact everywhere (also at alpha = 0).
    """
    det = c.alpha * c.dsigma - c.dalpha * c.sigma
    x0 = (c.dsigma * x - c.sigma * u) / det
    eps = (c.alpha * u - c.dalpha * x) / det
    return x0, eps


def x0_eps_to_velocity(x0: Tensor, eps: Tensor, c: Coeffs) -> Tensor:
    return c.dalpha * x0 + c.dsigma * eps


def to_x0_eps(kind: str, pred: Tensor, x: Tensor, c: Coeffs) -> tuple[Tensor, Tensor]:
    """Any prediction -> (x0, eps)."""
    if kind == "x0":
        return pred, x0_to_eps(x, pred, c)
    if kind == "eps":
        return eps_to_x0(x, pred, c), pred
    if kind == "v":
        return v_to_x0_eps(x, pred, c)
    if kind == "score":
        eps = score_to_eps(pred, c)
        return eps_to_x0(x, eps, c), eps
    if kind == "velocity":
        return velocity_to_x0_eps(x, pred, c)
    raise ValueError(f"unknown parameterization {kind!r}; valid: {', '.join(KINDS)}")


def from_x0_eps(kind: str, x0: Tensor, eps: Tensor, c: Coeffs) -> Tensor:
    """(x0, eps) -> any prediction."""
    if kind == "x0":
        return x0
    if kind == "eps":
        return eps
    if kind == "v":
        return x0_eps_to_v(x0, eps, c)
    if kind == "score":
        return eps_to_score(eps, c)
    if kind == "velocity":
        return x0_eps_to_velocity(x0, eps, c)
    raise ValueError(f"unknown parameterization {kind!r}; valid: {', '.join(KINDS)}")


def convert(pred: Tensor, src: str, dst: str, x: Tensor, c: Coeffs) -> Tensor:
    """Convert a prediction of kind ``src`` into kind ``dst`` at the same (x, t)."""
    if src == dst:
        return pred
    # Direct routes that avoid dividing by a coefficient that may vanish.
    if src == "x0" and dst == "eps":
        return x0_to_eps(x, pred, c)
    if src == "eps" and dst == "x0":
        return eps_to_x0(x, pred, c)
    x0, eps = to_x0_eps(src, pred, x, c)
    return from_x0_eps(dst, x0, eps, c)

"""The forward process: x_t = alpha(t) x_0 + sigma(t) eps.

Every process in the studio is affine in the data. Its SDE drift and diffusion follow from alpha
and sigma (Kingma et al. 2021; "The Principles of Diffusion Models", ch. 4):

    f(t)   = d log alpha / dt
    g(t)^2 = d sigma^2 / dt - 2 f(t) sigma^2

Time runs from ``t_min`` (data) to ``t_max`` (noise). A process declares its prior scale: the
sample at ``t_max`` is ``prior_std * z`` with ``z`` standard normal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..params import param_specs


def as_time(t, like: Tensor | None = None) -> Tensor:
    """Times as a float64 tensor (on ``like``'s device if given)."""
    device = like.device if like is not None else None
    if isinstance(t, Tensor):
        return t.to(dtype=torch.float64, device=device if device is not None else t.device)
    return torch.as_tensor(t, dtype=torch.float64, device=device)


@dataclass
class Process:
    """Base class of forward processes. Subclasses define alpha, sigma and their derivatives."""

    id: ClassVar[str] = ""
    #: one line for tables and tooltips
    title: ClassVar[str] = ""

    # subclasses declare ``t_min`` and ``t_max`` (fields or properties)
    t_min: ClassVar[float]
    t_max: ClassVar[float]

    def __post_init__(self) -> None:
        if not self.t_min < self.t_max:
            raise ValueError(f"t_min ({self.t_min}) must be below t_max ({self.t_max})")

    # -- what subclasses define -------------------------------------------------------------
    def alpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def sigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def dalpha(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def dsigma(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def prior_std(self) -> float:
        """Standard deviation of the prior N(0, prior_std^2 I) at ``t_max``."""
        return 1.0

    def prior_sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The prior sample at ``t_max`` from standard-normal noise ``z`` (``generator``: extra
        randomness a non-Gaussian prior may need). Default: prior_std * z."""
        return self.prior_std * z

    #: time shift (SD3/FLUX) this process applies to every schedule by default
    @property
    def default_shift(self) -> float:
        return 1.0

    # -- derived quantities ------------------------------------------------------------------
    def logsnr(self, t: Tensor) -> Tensor:
        """lambda(t) = log(alpha^2 / sigma^2)."""
        t = as_time(t)
        return 2.0 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def t_of_logsnr(self, lam: Tensor) -> Tensor:
        """Inverse of :meth:`logsnr` on [t_min, t_max] (bisection; subclasses override with
        closed forms). lambda is decreasing in t."""
        lam = as_time(lam)
        lo = torch.full_like(lam, self.t_min)
        hi = torch.full_like(lam, self.t_max)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            above = self.logsnr(mid) > lam  # still too clean: move right
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    def sigma_edm(self, t: Tensor) -> Tensor:
        """sigma/alpha: the noise level of the equivalent variance-exploding process."""
        t = as_time(t)
        return self.sigma(t) / self.alpha(t)

    def f(self, t: Tensor) -> Tensor:
        """SDE drift coefficient f(t) = d log alpha / dt (dx = f x dt + g dW)."""
        t = as_time(t)
        return self.dalpha(t) / self.alpha(t)

    def g2(self, t: Tensor) -> Tensor:
        """SDE diffusion g(t)^2 = d sigma^2/dt - 2 f sigma^2."""
        t = as_time(t)
        s = self.sigma(t)
        return 2.0 * s * self.dsigma(t) - 2.0 * self.f(t) * s * s

    def coeffs(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(alpha, sigma, dalpha/dt, dsigma/dt) at ``t``."""
        t = as_time(t)
        return self.alpha(t), self.sigma(t), self.dalpha(t), self.dsigma(t)

    def marginal_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = alpha(t) x0 + sigma(t) eps, ``t`` scalar or one per sample."""
        t = as_time(t, x0)
        a = _bcast(self.alpha(t), x0).to(x0.dtype)
        s = _bcast(self.sigma(t), x0).to(x0.dtype)
        return a * x0 + s * noise

    def describe(self) -> dict:
        return {"id": self.id, "title": self.title,
                "params": [s.to_json() for s in param_specs(type(self))]}


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a scalar or per-sample coefficient to broadcast against ``like`` [B, ...]."""
    if v.ndim == 0:
        return v
    return v.reshape(v.shape + (1,) * (like.ndim - v.ndim))


def log_sigmoid(x: Tensor) -> Tensor:
    return torch.nn.functional.logsigmoid(x)



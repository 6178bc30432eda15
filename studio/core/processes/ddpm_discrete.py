"""Discrete DDPM beta tables (Ho et al. 2020; Stable Diffusion) on a continuous time axis.

The N-step table defines alphas_cumprod[k] for k = 0..N-1. Time t = k / (N-1) in [0, 1]; between
integers log(alphas_cumprod) is a natural cubic spline through the table's values, so alpha and
sigma are smooth (C2) and every continuous-time solver runs on it. At integer k the values are the
table's exactly, which is what parity with diffusers' schedulers needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time


def beta_table(kind: str, n: int, beta_start: float, beta_end: float) -> np.ndarray:
    """The DDPM beta table: ``linear`` (Ho et al.), ``scaled_linear`` (Stable Diffusion) or
    ``squaredcos_cap_v2`` (Nichol & Dhariwal 2021, eq. 17: alpha_bar(s) = cos^2((s + 0.008) /
    1.008 * pi / 2), beta_k = min(1 - alpha_bar((k + 1) / n) / alpha_bar(k / n), 0.999))."""
    if kind == "linear":
        return np.linspace(beta_start, beta_end, n, dtype=np.float64)
    if kind == "scaled_linear":
        return np.linspace(beta_start ** 0.5, beta_end ** 0.5, n, dtype=np.float64) ** 2
    if kind == "squaredcos_cap_v2":
        def abar(s):
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        return np.array([min(1 - abar((k + 1) / n) / abar(k / n), 0.999) for k in range(n)],
                        dtype=np.float64)
    raise ValueError(f"unknown beta schedule {kind!r}")


def natural_cubic_second_derivatives(y: np.ndarray) -> np.ndarray:
    """Second derivatives at unit-spaced knots of the natural cubic spline through ``y``."""
    n = len(y)
    m = np.zeros(n)
    if n < 3:
        return m
    rhs = 6.0 * (y[2:] - 2.0 * y[1:-1] + y[:-2])
    # Thomas algorithm for the tridiagonal system [1 4 1] m = rhs.
    k = n - 2
    c = np.zeros(k)
    d = np.zeros(k)
    c[0] = 1.0 / 4.0
    d[0] = rhs[0] / 4.0
    for i in range(1, k):
        den = 4.0 - c[i - 1]
        c[i] = 1.0 / den
        d[i] = (rhs[i] - d[i - 1]) / den
    inner = np.zeros(k)
    inner[-1] = d[-1]
    for i in range(k - 2, -1, -1):
        inner[i] = d[i] - c[i] * inner[i + 1]
    m[1:-1] = inner
    return m


@PROCESSES.register("ddpm-discrete")
@dataclass
class DDPMDiscrete(Process):
    """alphas_cumprod of an N-step beta table, interpolated smoothly in t = k / (N - 1)."""

    title = "Discrete DDPM / Stable Diffusion beta table"
    beta_schedule: str = param("linear", "beta table (ignored when trained_betas is given)",
                               choices=("linear", "scaled_linear", "squaredcos_cap_v2"))
    beta_start: float = param(0.0001, "first beta", min=0.0, max=1.0)
    beta_end: float = param(0.02, "last beta", min=0.0, max=1.0)
    num_train_timesteps: int = param(1000, "number of discrete steps N", min=2)
    trained_betas: Optional[list[float]] = param(None, "explicit beta table (one per step; "
                                                 "overrides beta_schedule)")
    t_min: float = param(0.0, "smallest time (k = 0)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (k = N - 1)", min=0.0, max=1.0)
    _y: np.ndarray = field(init=False, repr=False)
    _m: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        super().__post_init__()
        if self.trained_betas is not None:
            if len(self.trained_betas) != self.num_train_timesteps:
                raise ValueError(f"trained_betas has {len(self.trained_betas)} values, "
                                 f"num_train_timesteps is {self.num_train_timesteps}")
            betas = np.asarray(self.trained_betas, dtype=np.float64)
        else:
            betas = beta_table(self.beta_schedule, self.num_train_timesteps, self.beta_start,
                               self.beta_end)
        if not np.all((betas > 0) & (betas < 1)):
            raise ValueError("betas must lie in (0, 1)")
        self._y = np.cumsum(np.log1p(-betas))  # log alphas_cumprod
        self._m = natural_cubic_second_derivatives(self._y)
        self._cache: dict = {}

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return np.exp(self._y)

    def _tables(self, device):
        key = str(device)
        if key not in self._cache:
            self._cache[key] = (torch.as_tensor(self._y, dtype=torch.float64, device=device),
                                torch.as_tensor(self._m, dtype=torch.float64, device=device))
        return self._cache[key]

    def timestep_to_t(self, k):
        """Continuous time of discrete step index ``k``."""
        return as_time(k) / (self.num_train_timesteps - 1)

    def t_to_timestep(self, t):
        return as_time(t) * (self.num_train_timesteps - 1)

    def _spline(self, t, derivative: bool = False):
        t = as_time(t)
        y, m = self._tables(t.device)
        n = self.num_train_timesteps
        u = torch.clamp(t * (n - 1), 0.0, n - 1.0)
        i = torch.clamp(torch.floor(u).long(), 0, n - 2)
        a = u - i
        b = 1.0 - a
        y0, y1, m0, m1 = y[i], y[i + 1], m[i], m[i + 1]
        if not derivative:
            return b * y0 + a * y1 + ((b ** 3 - b) * m0 + (a ** 3 - a) * m1) / 6.0
        du = (y1 - y0) + ((1.0 - 3.0 * b ** 2) * m0 + (3.0 * a ** 2 - 1.0) * m1) / 6.0
        return du * (n - 1)  # d/dt of log alphas_cumprod

    def alpha(self, t):
        return torch.exp(0.5 * self._spline(t))

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(self._spline(t)))

    def dalpha(self, t):
        return 0.5 * self.alpha(t) * self._spline(t, derivative=True)

    def dsigma(self, t):
        return -self.alpha(t) * self.dalpha(t) / self.sigma(t)

    def logsnr(self, t):
        la2 = self._spline(t)
        return la2 - torch.log(-torch.expm1(la2))

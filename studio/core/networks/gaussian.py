"""The Gaussian approximation of a data set, whose probability-flow ODE is solved in closed form.

For data N(mu, Sigma) with Sigma = U diag(l) U^T, in eigen-coordinates y = U^T (x - alpha mu)
the PF-ODE is dy_j/dt = (1/2) d/dt log(alpha^2 l_j + sigma^2) y_j, so

    y_j(t_to) = sqrt((alpha(t_to)^2 l_j + sigma(t_to)^2) / (alpha(t_from)^2 l_j + sigma(t_from)^2)) y_j(t_from).

This is the ground truth that solvers' orders of convergence are measured against, and the exact
flow map Phi(x, t, s) (:meth:`Gaussian.flow_map`) that learned flow maps are graded against: it
satisfies the boundary Phi(x, t, t) = x and the composition law Phi(Phi(x, t, u), u, s) =
Phi(x, t, s) to rounding, since the per-coordinate factors multiply.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from ..arrays import load_array
from ..errors import ParamError
from ..params import param
from ..processes.base import Process, as_time
from ..registry import NETWORKS
from .base import Network


@NETWORKS.register("gaussian")
@dataclass
class Gaussian(Network):
    """N(mean, cov), given directly or estimated from a data array."""

    title = "Gaussian approximation (closed-form ODE)"
    parameterization = "x0"
    mean: Optional[list[float]] = param(None, "mean [D]")
    cov: Optional[list[list[float]]] = param(None, "covariance [D][D]", ui="matrix")
    data: Any = param(None, "data [N, ...] to estimate mean and covariance from (.npy path or list)",
                      ui="path")
    _base_dir: str = field(default="", repr=False)

    def __post_init__(self):
        super().__post_init__()
        if self.data is not None:
            if self.mean is not None or self.cov is not None:
                raise ParamError("give data, or mean and cov, not both", "data")
            arr = load_array(self.data, "data", self._base_dir or None)
            if arr.ndim < 2 or arr.shape[0] < 2:
                raise ParamError("data must be [N, ...] with N >= 2", "data")
            self._shape = tuple(arr.shape[1:])
            flat = arr.reshape(len(arr), -1)
            mu, cov = flat.mean(0), np.atleast_2d(np.cov(flat, rowvar=False))
        else:
            if self.mean is None:
                raise ParamError("give mean (and cov), or data", "mean")
            mu = np.asarray(self.mean, dtype=np.float64)
            cov = np.eye(len(mu)) if self.cov is None else np.asarray(self.cov, dtype=np.float64)
            if mu.ndim != 1 or cov.shape != (len(mu), len(mu)):
                raise ParamError(f"cov must be [{len(mu)}][{len(mu)}], got {list(cov.shape)}", "cov")
            self._shape = (len(mu),)
        lam, u = np.linalg.eigh(0.5 * (cov + cov.T))
        if lam.min() < -1e-10:
            raise ParamError("covariance must be positive semi-definite", "cov")
        self._mu, self._lam, self._u = mu, np.clip(lam, 0.0, None), u

    @property
    def data_shape(self):
        return self._shape

    def _eig(self, x: Tensor):
        return self._on("mu", self._mu, x), self._on("lam", self._lam, x), self._on("u", self._u, x)

    def predict(self, x, t, process, labels=None):
        t = as_time(t, x)
        a = process.alpha(t).to(x.dtype).reshape(-1, 1)
        s = process.sigma(t).to(x.dtype).reshape(-1, 1)
        mu, lam, u = self._eig(x)
        xf = x.reshape(len(x), -1)
        y = (xf - a * mu) @ u
        x0 = mu + (a * lam / (a * a * lam + s * s) * y) @ u.T
        return x0.reshape(x.shape)

    def ode_solution(self, x: Tensor, t_from, t_to, process: Process) -> Tensor:
        """Exact probability-flow ODE map x(t_from) -> x(t_to) (any direction)."""
        t0, t1 = as_time(t_from, x), as_time(t_to, x)
        a0, s0 = process.alpha(t0).to(x.dtype), process.sigma(t0).to(x.dtype)
        a1, s1 = process.alpha(t1).to(x.dtype), process.sigma(t1).to(x.dtype)
        mu, lam, u = self._eig(x)
        xf = x.reshape(len(x), -1)
        y = (xf - a0 * mu) @ u
        y = y * torch.sqrt((a1 * a1 * lam + s1 * s1) / (a0 * a0 * lam + s0 * s0))
        return (a1 * mu + y @ u.T).reshape(x.shape)

    flow_map_kind = "exact"

    def flow_map(self, x, t, s, process, labels=None):
        """Exact Phi(x, t, s), with one (t, s) pair per sample or one for the batch."""
        b = x.shape[0]
        t0, t1 = as_time(t, x), as_time(s, x)
        a0, s0 = process.alpha(t0).to(x.dtype), process.sigma(t0).to(x.dtype)
        a1, s1 = process.alpha(t1).to(x.dtype), process.sigma(t1).to(x.dtype)
        col = lambda v: v.expand(b).reshape(b, 1)  # noqa: E731
        a0, s0, a1, s1 = col(a0), col(s0), col(a1), col(s1)
        mu, lam, u = self._eig(x)
        xf = x.reshape(b, -1)
        y = (xf - a0 * mu) @ u
        gain = torch.sqrt((a1 * a1 * lam + s1 * s1) / (a0 * a0 * lam + s0 * s0)) - 1.0
        # x plus the change, so that Phi(x, t, t) = x exactly (the change is then exactly 0)
        return (xf + (a1 - a0) * mu + (gain * y) @ u.T).reshape(x.shape)

    def ode_denoised(self, x: Tensor, t_from, t_to, process: Process) -> Tensor:
        """The x0-prediction at the exact ODE point at ``t_to`` (the exact 'denoise final' output)."""
        return self.predict(self.ode_solution(x, t_from, t_to, process), t_to, process)

    def sample(self, n: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> Tensor:
        z = torch.randn(n, len(self._mu), generator=generator, dtype=torch.float64)
        u, lam = torch.as_tensor(self._u), torch.as_tensor(self._lam)
        x = torch.as_tensor(self._mu) + (z * torch.sqrt(lam)) @ u.T
        return x.reshape((n,) + self._shape).to(dtype)

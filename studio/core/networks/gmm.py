"""A Gaussian mixture: exact denoiser, score, log-density and samples at every noise level.

Data x0 ~ sum_k w_k N(m_k, C_k). Under x_t = alpha x0 + sigma eps the marginal is again a mixture,
p_t = sum_k w_k N(alpha m_k, alpha^2 C_k + sigma^2 I), and the posterior mean is

    E[x0 | x_t] = sum_k r_k(x_t) (m_k + alpha C_k (alpha^2 C_k + sigma^2 I)^-1 (x_t - alpha m_k)),

with responsibilities r_k proportional to w_k N(x_t; alpha m_k, alpha^2 C_k + sigma^2 I). Each C_k
is diagonalised once (C_k = U_k diag(l_k) U_k^T), so every evaluation is exact and O(K B D^2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import ParamError
from ..params import param
from ..processes.base import Process, _bcast, as_time
from ..registry import NETWORKS
from .base import Network


@NETWORKS.register("gmm")
@dataclass
class GMM(Network):
    """Gaussian mixture with full covariances (``covs``) or diagonal variances (``vars``)."""

    title = "Gaussian mixture (exact denoiser)"
    parameterization = "x0"
    means: list[list[float]] = param(doc="component means [K][D]", ui="matrix")
    covs: Optional[list[list[list[float]]]] = param(None, "component covariances [K][D][D]", ui="matrix")
    vars: Optional[list[list[float]]] = param(None, "diagonal variances [K][D] (instead of covs)",
                                              ui="matrix")
    weights: Optional[list[float]] = param(None, "mixture weights [K] (default: equal)")

    def __post_init__(self):
        super().__post_init__()
        m = np.asarray(self.means, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] == 0:
            raise ParamError(f"means must be [K][D], got shape {list(m.shape)}", "means")
        k, d = m.shape
        if self.covs is not None and self.vars is not None:
            raise ParamError("give covs or vars, not both", "covs")
        if self.covs is not None:
            c = np.asarray(self.covs, dtype=np.float64)
            if c.shape != (k, d, d):
                raise ParamError(f"covs must be [{k}][{d}][{d}], got {list(c.shape)}", "covs")
            if not np.allclose(c, np.swapaxes(c, 1, 2), atol=1e-10):
                raise ParamError("covariances must be symmetric", "covs")
            lam, u = np.linalg.eigh(c)
        else:
            v = np.ones((k, d)) if self.vars is None else np.asarray(self.vars, dtype=np.float64)
            if v.shape != (k, d):
                raise ParamError(f"vars must be [{k}][{d}], got {list(v.shape)}", "vars")
            lam, u = v, np.broadcast_to(np.eye(d), (k, d, d)).copy()
        if np.any(lam < -1e-12):
            raise ParamError("covariances must be positive semi-definite", "covs" if self.covs else "vars")
        w = np.full(k, 1.0 / k) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if w.shape != (k,) or np.any(w < 0) or w.sum() <= 0:
            raise ParamError(f"weights must be {k} non-negative numbers", "weights")
        self._m, self._lam, self._u = m, np.clip(lam, 0.0, None), u
        self._logw = np.log(w / w.sum())

    @property
    def data_shape(self):
        return (self._m.shape[1],)

    @property
    def num_components(self) -> int:
        return self._m.shape[0]

    def covariance_matrices(self) -> np.ndarray:
        return np.einsum("kij,kj,klj->kil", self._u, self._lam, self._u)

    # -- the exact posterior ---------------------------------------------------------------------
    def _components(self, x: Tensor, a: Tensor, s: Tensor):
        """Per-component log N(x; a m_k, a^2 C_k + s^2 I) [B, K] and posterior means [B, K, D]."""
        m = self._on("m", self._m, x)
        lam = self._on("lam", self._lam, x)
        u = self._on("u", self._u, x)
        logw = self._on("logw", self._logw, x)
        a = a.reshape(-1, 1, 1)  # [B or 1, 1, 1]
        s = s.reshape(-1, 1, 1)
        diff = x[:, None, :] - a * m[None]                      # [B, K, D]
        y = torch.einsum("bkd,kde->bke", diff, u)               # eigen-coordinates
        var = a * a * lam[None] + s * s                         # [B or 1, K, D]
        var = torch.clamp(var, min=torch.finfo(x.dtype).tiny)
        logn = -0.5 * ((y * y / var).sum(-1) + torch.log(var).sum(-1)
                       + x.shape[-1] * math.log(2 * math.pi))
        mean = m[None] + torch.einsum("bke,kde->bkd", a * lam[None] * y / var, u)
        return logw[None] + logn, mean

    flow_map_kind = "reference"

    def flow_map(self, x, t, s, process, labels=None):
        """Reference Phi(x, t, s): the PF-ODE solved by adaptive Dormand-Prince (float64)."""
        from ..flowmap import reference_flow_map
        return reference_flow_map(self, process, x, t, s, labels)

    def predict(self, x, t, process, labels=None):
        t = as_time(t, x)
        a = process.alpha(t).to(x.dtype)
        s = process.sigma(t).to(x.dtype)
        logp, mean = self._components(x, a, s)
        r = torch.softmax(logp, dim=1)
        return (r[..., None] * mean).sum(1)

    def component_log_posterior(self, x: Tensor, t, process: Process) -> Tensor:
        """Exact log p(k | x_t) [B, K]: the exact noise-conditional classifier whose classes are
        the mixture's components (classifier guidance's ground truth)."""
        t = as_time(t, x)
        logp, _ = self._components(x, process.alpha(t).to(x.dtype), process.sigma(t).to(x.dtype))
        return torch.log_softmax(logp, dim=1)

    def log_prob(self, x: Tensor, t=None, process: Process | None = None) -> Tensor:
        """Exact log p_t(x) (log p_data(x) when ``t`` is None)."""
        if t is None:
            a = torch.ones((), dtype=x.dtype, device=x.device)
            s = torch.zeros((), dtype=x.dtype, device=x.device)
        else:
            t = as_time(t, x)
            a, s = process.alpha(t).to(x.dtype), process.sigma(t).to(x.dtype)
        logp, _ = self._components(x, a, s)
        return torch.logsumexp(logp, dim=1)

    def score(self, x: Tensor, t, process: Process) -> Tensor:
        """Exact grad_x log p_t(x)."""
        t = as_time(t, x)
        a = _bcast(process.alpha(t), x).to(x.dtype)
        s = _bcast(process.sigma(t), x).to(x.dtype)
        return (a * self.predict(x, t, process) - x) / (s * s)

    def sample(self, n: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float64) -> Tensor:
        """Exact samples of the data distribution (on the CPU)."""
        probs = torch.as_tensor(np.exp(self._logw))
        k = torch.multinomial(probs, n, replacement=True, generator=generator)
        z = torch.randn(n, self._m.shape[1], generator=generator, dtype=torch.float64)
        u = torch.as_tensor(self._u)[k]
        lam = torch.as_tensor(self._lam)[k]
        x = torch.as_tensor(self._m)[k] + torch.einsum("bde,be->bd", u, torch.sqrt(lam) * z)
        return x.to(dtype)

    def card(self):
        out = super().card()
        out["components"] = self.num_components
        return out

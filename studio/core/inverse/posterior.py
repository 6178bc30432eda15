"""Exact posteriors of Gaussian-mixture priors under linear Gaussian measurements.

Prior x ~ sum_k w_k N(m_k, C_k) and y = A x + sigma_y n, n ~ N(0, I). The posterior is again a
Gaussian mixture (Bishop 2006, sec. 2.3.3, applied per component):

    S_k   = A C_k A^T + sigma_y^2 I
    w'_k  ∝ w_k N(y; A m_k, S_k)
    m'_k  = m_k + C_k A^T S_k^-1 (y - A m_k)
    C'_k  = C_k - C_k A^T S_k^-1 A C_k

A is first reduced to its row space by an SVD (A = U diag(s) V^T, rows with s ~ 0 dropped,
y -> U^T y), so in-place inpainting (zero rows), redundant rows and sigma_y = 0 are all handled:
with sigma_y = 0 the posterior lives on {x : A x = y} and every sample satisfies it (up to
round-off). Everything is float64 numpy; sampling is exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .operators import Operator


@dataclass
class GMMPosterior:
    """A Gaussian mixture (the exact posterior): weights [K], means [K, D], covs [K, D, D]."""

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """The posterior mean E[x | y] [D]."""
        return self.weights @ self.means

    @property
    def covariance(self) -> np.ndarray:
        """The posterior covariance [D, D] (law of total covariance)."""
        mu = self.mean
        d = self.means - mu
        return np.einsum("k,kij->ij", self.weights, self.covs) + np.einsum("k,ki,kj->ij",
                                                                            self.weights, d, d)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact samples [n, D] (float64, CPU)."""
        w = torch.as_tensor(self.weights)
        k = torch.multinomial(w / w.sum(), n, replacement=True, generator=generator)
        lam, u = np.linalg.eigh(self.covs)
        root = torch.as_tensor(u * np.sqrt(np.clip(lam, 0.0, None))[:, None, :])   # [K, D, D]
        z = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        return torch.as_tensor(self.means)[k] + torch.einsum("nij,nj->ni", root[k], z)

    def network_params(self) -> dict:
        """Parameters of a ``gmm`` network whose data distribution is this posterior (its exact
        denoiser then samples the posterior with any solver)."""
        covs = 0.5 * (self.covs + np.swapaxes(self.covs, 1, 2))
        return {"means": self.means.tolist(), "covs": covs.tolist(),
                "weights": self.weights.tolist()}


def gmm_posterior(means, covs, weights, a, y, sigma_y: float, rtol: float = 1e-10) -> GMMPosterior:
    """The exact posterior of sum_k w_k N(m_k, C_k) given y = A x + sigma_y n.

    ``means`` [K, D], ``covs`` [K, D, D], ``weights`` [K], ``a`` [M, D], ``y`` [M]."""
    m = np.asarray(means, np.float64)
    c = np.asarray(covs, np.float64)
    w = np.asarray(weights, np.float64)
    a = np.asarray(a, np.float64)
    y = np.asarray(y, np.float64).reshape(-1)
    k, d = m.shape
    if a.ndim != 2 or a.shape[1] != d or y.shape[0] != a.shape[0]:
        raise ValueError(f"shapes do not match: A {a.shape}, y {y.shape}, D = {d}")
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    keep = s > rtol * (s.max() if s.size else 0.0)
    ar = s[keep, None] * vt[keep]              # [r, D], orthogonal rows
    yr = u[:, keep].T @ y                       # [r]
    r = ar.shape[0]
    logw = np.log(np.clip(w / w.sum(), 1e-300, None))
    new_means, new_covs, new_logw = np.empty_like(m), np.empty_like(c), np.empty(k)
    for j in range(k):
        if r == 0:
            new_means[j], new_covs[j], new_logw[j] = m[j], c[j], logw[j]
            continue
        ca = c[j] @ ar.T                        # C A^T [D, r]
        sk = ar @ ca + sigma_y ** 2 * np.eye(r)
        sk = 0.5 * (sk + sk.T)
        ev, eu = np.linalg.eigh(sk)
        floor = max(ev.max(), 1e-300) * 1e-14
        ev = np.clip(ev, floor, None)
        sinv = (eu / ev) @ eu.T
        resid = yr - ar @ m[j]
        gain = ca @ sinv                        # [D, r]
        new_means[j] = m[j] + gain @ resid
        cov = c[j] - gain @ ca.T
        new_covs[j] = 0.5 * (cov + cov.T)
        new_logw[j] = logw[j] - 0.5 * (resid @ sinv @ resid + np.log(ev).sum()
                                       + r * math.log(2 * math.pi))
    new_logw -= new_logw.max()
    pw = np.exp(new_logw)
    return GMMPosterior(pw / pw.sum(), new_means, new_covs)


def posterior_of(gmm, operator: Operator, y, sigma_y: float) -> GMMPosterior:
    """The exact posterior of a ``gmm`` network's data distribution under ``operator`` (bound to
    the network's data shape) for one measurement ``y`` (shaped like one measurement)."""
    operator.bind(gmm.data_shape)
    a = operator.dense().numpy()
    yv = torch.as_tensor(y, dtype=torch.float64).reshape(1, *operator.out_shape)
    yv = operator.measured(yv).reshape(-1).numpy()
    return gmm_posterior(gmm._m, gmm.covariance_matrices(), np.exp(gmm._logw), a, yv, sigma_y)


__all__ = ["GMMPosterior", "gmm_posterior", "posterior_of"]

"""Distances between sample sets used by the comparison metrics (torch only, float64).

* :func:`sliced_wasserstein` - sliced 2-Wasserstein distance (Rabin et al. 2011; Bonneel et al.
  2015), delegated to :mod:`studio.core.metrics`.
* :func:`mmd` - maximum mean discrepancy (Gretton et al. 2012) with a sum of Gaussian kernels at
  bandwidths fixed once per comparison from the data (so cells are scored by the same kernel);
  the biased (V-statistic) estimate, never negative (log-scale plots, a positive data-vs-data
  floor), returned as sqrt(MMD^2). :func:`studio.core.metrics.mmd2` is the unbiased MMD^2 with
  bandwidths from the pooled samples, which can go below zero.
* :func:`frechet_distance` - Frechet distance between Gaussians fitted to two feature sets
  (Heusel et al. 2017), with the matrix square root by symmetric eigendecompositions.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from .. import metrics as _metrics


def _flat(x: Tensor) -> Tensor:
    x = torch.as_tensor(x)
    return x.reshape(len(x), -1).to(torch.float64)


def sliced_wasserstein(x: Tensor, y: Tensor | None, projections: int = 256, seed: int = 0,
                       y_projections: Tensor | None = None) -> float:
    """Sliced 2-Wasserstein distance between sample sets x [N, ...] and y [M, ...]: the engine's
    :func:`studio.core.metrics.sliced_wasserstein` (exact 1-D distances for any sizes, random
    directions from ``seed``: the same for every call with the same seed and dimension).
    ``y_projections`` (:func:`sorted_projections`) stands for y, sorted once for many cells."""
    return float(_metrics.sliced_wasserstein(_flat(x), None if y is None else _flat(y),
                                             n_projections=int(projections), p=2.0,
                                             seed=int(seed), y_projections=y_projections))


def sorted_projections(y: Tensor, projections: int = 256, seed: int = 0) -> Tensor:
    """y's projections on :func:`sliced_wasserstein`'s directions, sorted: [projections, M]."""
    return _metrics.sorted_projections(_flat(y), int(projections), int(seed))


def median_bandwidth(x: Tensor, max_points: int = 2000, seed: int = 0) -> float:
    """The median pairwise distance of (a subset of) x: the usual RBF bandwidth heuristic."""
    x = _flat(x)
    if len(x) > max_points:
        g = torch.Generator().manual_seed(int(seed))
        x = x[torch.randperm(len(x), generator=g)[:max_points]]
    d = torch.cdist(x, x)
    iu = torch.triu_indices(len(x), len(x), 1)
    vals = d[iu[0], iu[1]]
    med = float(vals.median()) if len(vals) else 1.0
    return med if med > 0 else 1.0


def kernel_mean(x: Tensor, y: Tensor, bandwidths: Sequence[float], block: int = 2048) -> float:
    """mean_{i,j} sum_h exp(-|x_i - y_j|^2 / (2 h^2)), in blocks to bound memory."""
    x, y = _flat(x), _flat(y)
    total = 0.0
    inv = [1.0 / (2.0 * h * h) for h in bandwidths]
    for i in range(0, len(x), block):
        d2 = torch.cdist(x[i:i + block], y).pow(2)
        total += float(sum(torch.exp(-c * d2).sum() for c in inv))
    return total / (len(x) * len(y))


def mmd(x: Tensor, y: Tensor, bandwidths: Sequence[float] | None = None,
        yy: float | None = None) -> float:
    """sqrt of the biased MMD^2 with a sum of Gaussian kernels; ``yy`` caches the y-y term."""
    x, y = _flat(x), _flat(y)
    if bandwidths is None:
        h = median_bandwidth(y)
        bandwidths = (0.5 * h, h, 2.0 * h)
    kxx = kernel_mean(x, x, bandwidths)
    kyy = kernel_mean(y, y, bandwidths) if yy is None else yy
    kxy = kernel_mean(x, y, bandwidths)
    return math.sqrt(max(kxx + kyy - 2.0 * kxy, 0.0))


def _sqrtm_psd(a: Tensor) -> Tensor:
    lam, u = torch.linalg.eigh(0.5 * (a + a.T))
    return (u * lam.clamp(min=0).sqrt()) @ u.T


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    f = _flat(features)
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / max(len(f) - 1, 1)


def frechet_distance(f1: Tensor | tuple, f2: Tensor | tuple) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (or given (mean, cov))."""
    mu1, c1 = f1 if isinstance(f1, tuple) else gaussian_stats(f1)
    mu2, c2 = f2 if isinstance(f2, tuple) else gaussian_stats(f2)
    s1 = _sqrtm_psd(c1)
    cross = _sqrtm_psd(s1 @ c2 @ s1)
    val = (mu1 - mu2).pow(2).sum() + torch.trace(c1) + torch.trace(c2) - 2.0 * torch.trace(cross)
    return float(val.clamp(min=0))


__all__ = ["sliced_wasserstein", "mmd", "median_bandwidth", "kernel_mean", "frechet_distance",
           "gaussian_stats"]

"""Distances between sample sets, as plain functions (torch only).

``sliced_wasserstein``: the sliced Wasserstein distance (Rabin et al. 2011, "Wasserstein
Barycenter and its Application to Texture Mixing"; Bonneel et al. 2015): the p-Wasserstein distance
between the 1-D projections of two sample sets, averaged over random directions, computed exactly
for empirical measures of any sizes.

``mmd2``: the unbiased squared maximum mean discrepancy with Gaussian kernels (Gretton et al. 2012,
"A Kernel Two-Sample Test").
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["sliced_wasserstein", "sliced_wasserstein_weighted", "wasserstein_1d", "mmd2",
           "random_directions", "sorted_projections"]


def _as_2d(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name}: need a non-empty batch of samples, got shape {tuple(x.shape)}")
    x = x.reshape(x.shape[0], -1)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: samples contain NaN or Inf")
    return x.to(torch.float64)


def random_directions(n: int, dim: int, seed: int = 0, device=None) -> Tensor:
    """``n`` unit vectors uniform on the sphere in R^dim (float64, from a seeded CPU generator)."""
    g = torch.Generator().manual_seed(int(seed))
    d = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return (d / d.norm(dim=1, keepdim=True)).to(device)


def _sort_rows(a: Tensor) -> Tensor:
    """``a`` [k, n] with each row sorted ascending. On the CPU numpy's vectorised sort on
    contiguous rows (about 3x torch.sort along a strided dimension), a few milliseconds at a time;
    the values are the same."""
    if a.device.type == "cpu" and a.dtype == torch.float64:
        arr = np.ascontiguousarray(a.detach().numpy())
        step = max(1, (1 << 16) // max(1, arr.shape[1]))
        for i in range(0, arr.shape[0], step):  # in pieces: numpy holds the GIL while it sorts,
            arr[i:i + step].sort(axis=1)         # and a process pool's feeder thread needs it
        return torch.from_numpy(arr)
    return torch.sort(a.contiguous(), dim=1).values


def _w1d_sorted(a: Tensor, b: Tensor, p: float) -> Tensor:
    """W_p per row between sorted rows ``a`` [k, n] and ``b`` [k, m]; returns [k]."""
    n, m = a.shape[1], b.shape[1]
    if n == m:
        return (a - b).abs().pow(p).mean(1).pow(1.0 / p)
    levels = torch.cat([torch.arange(1, n + 1, dtype=torch.float64) / n,
                        torch.arange(1, m + 1, dtype=torch.float64) / m])
    levels = torch.unique(levels)  # sorted; the last is 1
    width = torch.diff(levels, prepend=levels.new_zeros(1))
    mid = levels - 0.5 * width
    ia = torch.clamp((mid * n).long(), max=n - 1).to(a.device)
    ib = torch.clamp((mid * m).long(), max=m - 1).to(b.device)
    diff = (a[:, ia] - b[:, ib]).abs().pow(p)
    return (diff * width.to(a.device)).sum(1).pow(1.0 / p)


def wasserstein_1d(a: Tensor, b: Tensor, p: float = 2.0) -> Tensor:
    """Exact W_p between the empirical measures of the columns of ``a`` [n, k] and ``b`` [m, k]
    (k independent 1-D problems); returns [k].

    W_p^p = int_0^1 |F_a^-1(u) - F_b^-1(u)|^p du, with both quantile functions piecewise constant
    between the levels {i/n} and {j/m}."""
    return _w1d_sorted(_sort_rows(a.T), _sort_rows(b.T), p)


def sorted_projections(y: Tensor, n_projections: int = 256, seed: int = 0) -> Tensor:
    """The projections of samples ``y`` [m, ...] on :func:`sliced_wasserstein`'s directions for
    ``seed``, each row sorted: [n_projections, m]. Pass it as ``y_projections`` to score many
    sample sets against the same reference without re-sorting it."""
    y = _as_2d(y, "sorted_projections y")
    if n_projections < 1:
        raise ValueError("sliced_wasserstein: n_projections must be at least 1")
    theta = random_directions(n_projections, y.shape[1], seed, device=y.device)
    return _sort_rows(theta @ y.T)


def sliced_wasserstein(x: Tensor, y: Tensor | None, n_projections: int = 256, p: float = 2.0,
                       seed: int = 0, y_projections: Tensor | None = None) -> Tensor:
    """Sliced p-Wasserstein distance between samples ``x`` [n, ...] and ``y`` [m, ...]:
    (mean over random unit directions theta of W_p(theta . x, theta . y)^p)^(1/p).

    The directions come from ``seed``, so the value is deterministic; each projection's 1-D
    distance is exact (see :func:`wasserstein_1d`). Cost O(n_projections (n + m) log(n + m)).
    ``y_projections`` (from :func:`sorted_projections` with the same ``n_projections`` and
    ``seed``) replaces ``y``."""
    x = _as_2d(x, "sliced_wasserstein x")
    if n_projections < 1:
        raise ValueError("sliced_wasserstein: n_projections must be at least 1")
    if y_projections is None:
        if y is None:
            raise ValueError("sliced_wasserstein: give the samples y or their y_projections")
        y = _as_2d(y, "sliced_wasserstein y")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"sliced_wasserstein: dimensions differ ({x.shape[1]} vs {y.shape[1]})")
        y_projections = sorted_projections(y, n_projections, seed)
    elif y_projections.ndim != 2 or y_projections.shape[0] != n_projections:
        raise ValueError(f"sliced_wasserstein: y_projections has shape {tuple(y_projections.shape)}, "
                         f"not [{n_projections}, m]")
    theta = random_directions(n_projections, x.shape[1], seed, device=x.device)
    w = _w1d_sorted(_sort_rows(theta @ x.T), y_projections.to(x.device), p)
    return w.pow(p).mean().pow(1.0 / p)


def sliced_wasserstein_weighted(x: Tensor, w: Tensor, y: Tensor, n_projections: int = 256,
                                p: float = 2.0, seed: int = 0, chunk: int = 32) -> Tensor:
    """:func:`sliced_wasserstein` between the *weighted* samples ``x`` [n, ...] (weights ``w`` [n],
    nonnegative, normalised here) and the equally weighted ``y`` [m, ...]; the same directions as
    :func:`sliced_wasserstein` for the same ``seed``, so equal weights give the same value.

    Per direction the weighted quantile function steps at the cumulative weights of the sorted
    projections; W_p^p integrates |F_x^-1 - F_y^-1|^p between the merged levels (exact)."""
    x, y = _as_2d(x, "sliced_wasserstein_weighted x"), _as_2d(y, "sliced_wasserstein_weighted y")
    w = torch.as_tensor(w, dtype=torch.float64).reshape(-1).to(x.device)
    if x.shape[1] != y.shape[1] or len(w) != len(x):
        raise ValueError(f"sliced_wasserstein_weighted: shapes differ (x {tuple(x.shape)}, "
                         f"w {tuple(w.shape)}, y {tuple(y.shape)})")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not float(w.sum()) > 0:
        raise ValueError("sliced_wasserstein_weighted: weights must be finite, nonnegative and "
                         "not all zero")
    w = w / w.sum()
    theta = random_directions(n_projections, x.shape[1], seed, device=x.device)
    m = y.shape[0]
    out = []
    for th in theta.split(chunk):
        a, order = torch.sort(x @ th.T, dim=0)                     # [n, c]
        b, _ = torch.sort(y.to(x.device) @ th.T, dim=0)            # [m, c]
        ca = torch.cumsum(w[order], dim=0).T.contiguous()          # [c, n]
        ca[:, -1] = 1.0
        cb = (torch.arange(1, m + 1, dtype=torch.float64, device=x.device) / m)
        levels, _ = torch.sort(torch.cat([ca, cb.expand(len(ca), m)], 1), dim=1)
        width = torch.diff(levels, dim=1, prepend=levels.new_zeros(len(ca), 1))
        mid = (levels - 0.5 * width).contiguous()
        ia = torch.searchsorted(ca, mid).clamp_max(len(x) - 1).T   # [n + m, c]
        ib = torch.clamp((mid * m).long(), max=m - 1).T
        diff = (a.gather(0, ia) - b.gather(0, ib)).abs().pow(p)
        out.append((width.T * diff).sum(0))
    return torch.cat(out).mean().pow(1.0 / p)


def mmd2(x: Tensor, y: Tensor, bandwidths: list[float] | None = None) -> Tensor:
    """Unbiased estimate of MMD^2 with the kernel sum_h exp(-||u - v||^2 / (2 h^2)).

    ``bandwidths`` default to the median pairwise distance of the pooled samples times
    (0.5, 1, 2). The estimate can be slightly negative when the distributions agree. Memory
    O((n + m)^2)."""
    x, y = _as_2d(x, "mmd2 x"), _as_2d(y, "mmd2 y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd2: dimensions differ ({x.shape[1]} vs {y.shape[1]})")
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("mmd2: need at least two samples in each set")
    z = torch.cat([x, y.to(x.device)])
    d2 = torch.cdist(z, z).pow(2)
    if bandwidths is None:
        med = d2[torch.triu_indices(n + m, n + m, 1, device=z.device).unbind()].sqrt().median()
        bandwidths = [float(med) * f for f in (0.5, 1.0, 2.0)]
    if not bandwidths or any(not h > 0 for h in bandwidths):
        raise ValueError(f"mmd2: bandwidths must be positive, got {bandwidths}")
    k = sum(torch.exp(-d2 / (2.0 * h * h)) for h in bandwidths)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2.0 * kxy.mean()

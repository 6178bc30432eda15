"""What the trajectory views draw behind the particles, computed off the UI thread (Qt-free).

- 2-D data: the data density on a grid (exact ``log_prob`` for a Gaussian mixture, otherwise a
  smoothed histogram of data samples).
- D > 2: a fixed PCA projection of data samples, and the histogram of the projected data.
- Image data (``data_shape`` of rank 2 or 3): no backdrop; the views show image grids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

GRID = 160


@dataclass
class Backdrop:
    mode: str                                  # "2d", "pca" or "image"
    data_shape: tuple
    #: density image [GRID, GRID] in 0..1, row index = y
    density: Optional[np.ndarray] = None
    #: (xmin, xmax, ymin, ymax) of the density image, in view coordinates
    extent: tuple = (-3.0, 3.0, -3.0, 3.0)
    #: PCA: mean [D] and the two principal directions [D, 2]
    mean: Optional[np.ndarray] = None
    axes: Optional[np.ndarray] = None
    explained: tuple = ()
    #: image range (lo, hi) mapped to black..white (None: each frame's own 1..99% range)
    value_range: Optional[tuple] = None

    def project(self, x: np.ndarray) -> np.ndarray:
        """[N, *data_shape] -> [N, 2] view coordinates."""
        flat = x.reshape(len(x), -1)
        if self.mode == "2d":
            return flat[:, :2]
        if self.axes is None:
            return flat[:, :2] if flat.shape[1] >= 2 else np.pad(flat, ((0, 0), (0, 2 - flat.shape[1])))
        return (flat - self.mean) @ self.axes


def is_image(shape) -> bool:
    shape = tuple(shape)
    return len(shape) == 2 or (len(shape) == 3 and shape[0] in (1, 3, 4))


def data_samples(network, n: int = 4000, seed: int = 1234) -> Optional[np.ndarray]:
    """Samples of the data distribution if the network can give them (analytic networks)."""
    if hasattr(network, "sample"):
        try:
            g = torch.Generator().manual_seed(seed)
            return network.sample(n, generator=g).detach().cpu().numpy().astype(np.float64)
        except Exception:  # noqa: BLE001 - a network whose sample() needs more than this
            pass
    pts = getattr(network, "points", None)
    if pts is not None:
        pts = np.asarray(pts, dtype=np.float64)
        if len(pts) > n:
            pts = pts[np.random.default_rng(seed).choice(len(pts), n, replace=False)]
        return pts
    return None


def make_backdrop(network, samples: int = 4000, grid: int = GRID) -> Backdrop:
    shape = tuple(network.data_shape)
    dim = int(np.prod(shape))
    # fewer samples in high dimension: a PCA needs few, and sampling costs O(n D^2)
    data = data_samples(network, samples if dim <= 8 else max(samples // 4, 500))
    if is_image(shape):
        value_range = None          # unknown: each frame is scaled to its own range
        declared = getattr(getattr(network, "spec", None), "data_range", None)
        if declared is not None and len(declared) == 2 and declared[1] > declared[0]:
            value_range = (float(declared[0]), float(declared[1]))
        elif data is not None and data.size:
            lo, hi = float(np.percentile(data, 0.5)), float(np.percentile(data, 99.5))
            value_range = (lo, hi if hi > lo else lo + 1.0)
        return Backdrop("image", shape, value_range=value_range)
    if dim <= 2:
        extent = _extent(data[:, :2] if data is not None and dim == 2 else None)
        density = None
        if dim == 2 and hasattr(network, "log_prob"):
            density = _grid_density(network, extent, grid)
        elif data is not None and dim == 2:
            density = _histogram(data[:, :2], extent, grid)
        return Backdrop("2d", shape, density, extent)
    if data is None:
        return Backdrop("pca", shape, None, (-3.0, 3.0, -3.0, 3.0))
    flat = data.reshape(len(data), -1)
    mean = flat.mean(0)
    _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    axes = vt[:2].T
    # a sign convention so that the picture does not flip between runs
    axes = axes * np.where(axes[np.abs(axes).argmax(0), [0, 1]] < 0, -1.0, 1.0)
    var = s ** 2
    explained = tuple(float(v) for v in var[:2] / var.sum())
    proj = (flat - mean) @ axes
    extent = _extent(proj)
    return Backdrop("pca", shape, _histogram(proj, extent, grid), extent, mean, axes, explained)


def _extent(pts: Optional[np.ndarray]) -> tuple:
    if pts is None or not len(pts):
        return (-3.0, 3.0, -3.0, 3.0)
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.25 + 1e-6
    return (float(centre[0] - half), float(centre[0] + half), float(centre[1] - half),
            float(centre[1] + half))


def _grid(extent: tuple, n: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    xs = np.linspace(extent[0], extent[1], n)
    ys = np.linspace(extent[2], extent[3], n)
    return xs, ys


def _grid_density(network, extent: tuple, n: int = GRID) -> np.ndarray:
    xs, ys = _grid(extent, n)
    gx, gy = np.meshgrid(xs, ys)  # [y, x]
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float64)
    with torch.no_grad():
        logp = network.log_prob(pts).cpu().numpy().reshape(gx.shape)
    return _normalise(np.exp(logp - logp.max()))


def _histogram(pts: np.ndarray, extent: tuple, n: int = GRID) -> np.ndarray:
    h, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=n, range=[extent[2:], extent[:2]])
    return _normalise(_blur(h, 2.0 * n / GRID))


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    img = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, img)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, img)


def _normalise(d: np.ndarray) -> np.ndarray:
    """0..1 with a gamma that keeps faint, wide modes visible next to sharp ones."""
    m = d.max()
    return np.sqrt(d / m) if m > 0 else d


def velocity_field(network, process, t: float, extent: tuple, n: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """Grid points [n*n, 2] and the direction particles move there at time t (the negated ODE
    velocity, since time runs from noise to data), for 2-D data."""
    from ..core.model import Denoiser
    xs, ys = _grid(extent, n)
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    x = torch.as_tensor(pts, dtype=torch.float64)
    with torch.no_grad():
        vel = Denoiser(network, process)(x, t).velocity.cpu().numpy()
    return pts, -vel

"""Pictures of samples, for the gallery and the example cards (numpy only: safe in any thread).

* 2-D samples (or the PCA projection of D > 2): a scatter over the data density, in the colours of
  the trajectory views;
* images: a grid of the first samples, scaled up with crisp pixels.
"""
from __future__ import annotations

import numpy as np

from ..views.branch import DENSITY_CMAP
from ..views.items import mosaic

BACKGROUND = (16, 20, 24)
POINT = np.array([255, 196, 64], np.float32)
#: images shown in a picture (the rest of the batch is still in the pipeline)
MAX_IMAGES = 36
_LUT = None


def _lut() -> np.ndarray:
    global _LUT
    if _LUT is None:
        _LUT = np.asarray(DENSITY_CMAP.getLookupTable(nPts=256, alpha=False), np.uint8)
    return _LUT


def square_extent(extent, xy: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """A square view (x0, x1, y0, y1) around ``extent`` (or the points' 1..99% range)."""
    if extent is None:
        finite = xy[np.isfinite(xy).all(1)] if xy is not None and len(xy) else np.zeros((1, 2))
        if not len(finite):
            finite = np.zeros((1, 2))
        lo, hi = np.percentile(finite, 0.5, axis=0), np.percentile(finite, 99.5, axis=0)
        extent = (lo[0], hi[0], lo[1], hi[1])
        margin = 1.2
    else:
        margin = 1.05
    x0, x1, y0, y1 = (float(v) for v in extent)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0, 1e-6) / 2 * margin
    return cx - half, cx + half, cy - half, cy + half


def _bilinear(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``img`` [h, w] sampled at fractional rows [R] x cols [C] (clamped) -> [R, C]."""
    h, w = img.shape
    rows, cols = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = img[r0][:, c0] * (1 - fc) + img[r0][:, c1] * fc
    bot = img[r1][:, c0] * (1 - fc) + img[r1][:, c1] * fc
    return top * (1 - fr) + bot * fr


def points_picture(xy: np.ndarray, density: np.ndarray | None = None,
                   density_extent=None, size: int = 512, radius: float | None = None) -> np.ndarray:
    """RGB [size, size, 3] uint8: the points over the density (``density`` [n, n] in 0..1, row =
    y, covering ``density_extent``), y pointing up."""
    view = square_extent(density_extent, xy)
    x0, x1, y0, y1 = view
    out = np.empty((size, size, 3), np.float32)
    out[:] = BACKGROUND
    if density is not None and density_extent is not None:
        # the density image at the view's pixel centres (its row 0 is the lowest y)
        dx0, dx1, dy0, dy1 = density_extent
        n_r, n_c = density.shape
        px = x0 + (np.arange(size) + 0.5) / size * (x1 - x0)
        py = y1 - (np.arange(size) + 0.5) / size * (y1 - y0)
        cols = (px - dx0) / (dx1 - dx0) * n_c - 0.5
        rows = (py - dy0) / (dy1 - dy0) * n_r - 0.5
        inside = ((rows >= -0.5) & (rows <= n_r - 0.5))[:, None] \
            & ((cols >= -0.5) & (cols <= n_c - 0.5))[None, :]
        vals = np.where(inside, _bilinear(np.asarray(density, np.float64), rows, cols), 0.0)
        out[:] = _lut()[(np.clip(vals, 0, 1) * 255).astype(np.uint8)]
    pts = np.asarray(xy, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts):
        radius = radius if radius is not None else max(1.2, size / 256 * (1.6 if len(pts) > 3000 else 2.2))
        u = (pts[:, 0] - x0) / (x1 - x0) * size
        v = (y1 - pts[:, 1]) / (y1 - y0) * size
        count = np.zeros((size, size), np.float32)
        r = int(np.ceil(radius))
        for oy in range(-r, r + 1):
            for ox in range(-r, r + 1):
                if ox * ox + oy * oy > radius * radius:
                    continue
                iu, iv = np.floor(u).astype(int) + ox, np.floor(v).astype(int) + oy
                ok = (iu >= 0) & (iu < size) & (iv >= 0) & (iv < size)
                np.add.at(count, (iv[ok], iu[ok]), 1.0)
        alpha = 1.0 - np.power(1.0 - 0.8, count)[..., None]
        out = out * (1 - alpha) + POINT * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def images_picture(images: np.ndarray, value_range=None, size: int = 512,
                   limit: int = MAX_IMAGES) -> np.ndarray:
    """uint8 [H, W] (grey) or [H, W, 3]: a grid of the first ``limit`` images, each pixel a block,
    about ``size`` pixels wide."""
    imgs = np.asarray(images, np.float32)[:limit]
    if value_range is None:
        finite = imgs[np.isfinite(imgs)]
        lo, hi = (float(np.percentile(finite, 1)), float(np.percentile(finite, 99))) \
            if finite.size else (0.0, 1.0)
        value_range = (lo, hi if hi > lo else lo + 1.0)
    grid = mosaic(imgs, float(value_range[0]), float(value_range[1]))
    k = max(1, size // max(grid.shape[0], grid.shape[1]))
    return np.repeat(np.repeat(grid, k, axis=0), k, axis=1)


def sample_picture(samples: np.ndarray, mode: str, backdrop=None, size: int = 512) -> np.ndarray:
    """The picture of a run's samples [N, *data_shape] for a view ``mode`` ("2d", "pca",
    "image"), using the run's backdrop (density, projection, value range) when given."""
    if mode == "image":
        return images_picture(samples, getattr(backdrop, "value_range", None), size)
    flat = np.asarray(samples, np.float64).reshape(len(samples), -1)
    xy = backdrop.project(flat) if backdrop is not None else flat[:, :2]
    density = getattr(backdrop, "density", None)
    extent = getattr(backdrop, "extent", None) if density is not None else None
    return points_picture(xy, density, extent, size)

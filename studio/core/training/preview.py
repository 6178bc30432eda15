"""Small PNG previews for the model browser: a scatter plot of points, a grid of images."""
from __future__ import annotations

import io
import math

import numpy as np


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def scatter_png(points: np.ndarray, size: int = 128, labels: np.ndarray | None = None) -> bytes:
    """Points [N, 2] drawn as dots on white (colours by label if given)."""
    from PIL import Image, ImageDraw

    pts = np.asarray(points, dtype=np.float64)[:, :2]
    pts = pts[np.isfinite(pts).all(1)]
    img = Image.new("RGB", (size, size), (255, 255, 255))
    if len(pts):
        lo = np.percentile(pts, 0.5, axis=0)
        hi = np.percentile(pts, 99.5, axis=0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-9) * 1.1
        uv = (pts - centre) / half                       # [-1, 1]
        px = ((uv[:, 0] + 1) / 2 * (size - 1))
        py = ((1 - uv[:, 1]) / 2 * (size - 1))
        palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                   (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
        draw = ImageDraw.Draw(img)
        for k, (x, y) in enumerate(zip(px, py)):
            col = palette[int(labels[k]) % len(palette)] if labels is not None else (40, 70, 140)
            draw.point((float(x), float(y)), fill=col)
    return _png(img)


def grid_png(images: np.ndarray, cols: int | None = None, cell: int = 24,
             value_range: tuple[float, float] = (0.0, 1.0)) -> bytes:
    """Images [N, C, H, W] (C = 1 or 3) tiled into a grid, each cell ``cell`` pixels."""
    from PIL import Image

    imgs = np.asarray(images, dtype=np.float64)
    n, c = imgs.shape[:2]
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    lo, hi = value_range
    u8 = (np.clip((imgs - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)
    sheet = Image.new("L" if c == 1 else "RGB", (cols * cell, rows * cell), 0)
    for k in range(n):
        arr = u8[k, 0] if c == 1 else u8[k, :3].transpose(1, 2, 0)
        tile = Image.fromarray(arr).resize((cell, cell), Image.NEAREST)
        sheet.paste(tile, ((k % cols) * cell, (k // cols) * cell))
    return _png(sheet)


def model_preview_png(network, process, seed: int = 0, steps: int = 20,
                      solver: str = "dpm-solver++-2m", guidance_scale: float = 2.0) -> bytes:
    """Sample a trained network (a ``file`` network) and render its preview: 2000 points (coloured
    by class), or a grid of images with one column per class (classifier-free guidance at
    ``guidance_scale`` for class-conditional image models)."""
    import torch

    from ..model import Denoiser
    from ..params import build
    from ..pipeline import build_solver
    from ..registry import GUIDANCE
    from ..runner import SamplingRun

    spec = network.spec
    if spec.is_flow_map:      # a flow map previews as it is meant to be sampled: two jumps
        solver, steps, guidance_scale = "flow-map", 2, 1.0
    nc = spec.num_classes
    guidance = None
    if spec.data_kind == "image":
        cols = nc if 2 <= nc <= 16 else 8
        n = 4 * cols
        if nc and spec.class_dropout > 0 and guidance_scale != 1.0:
            guidance = build(GUIDANCE.get("cfg"), {"scale": guidance_scale}, "preview")
    else:
        cols, n = None, 2000
    labels = torch.arange(n) % nc if nc else None
    z = torch.randn((n,) + tuple(spec.data_shape), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    x_T = (process.prior_std * z).to(torch.float32)
    run = SamplingRun(Denoiser(network, process, guidance, labels),
                      build_solver(solver, {"steps": steps}, "preview"), x_T, seed=seed)
    samples = run.run().samples.numpy()
    if spec.data_kind == "image":
        return grid_png(samples, cols=cols, cell=16, value_range=tuple(spec.data_range or (0, 1)))
    return scatter_png(samples, 128, labels.numpy() if labels is not None else None)


def classifier_preview_png(trainer, levels=(6.0, 2.0, 0.0, -2.0)) -> bytes:
    """A noise-conditional classifier's browser preview. Images: one row per log-SNR level of
    ``levels`` showing an item of each class noised to it (what the classifier must still tell
    apart). Points: the training points coloured by the class it predicts for them at log-SNR 2."""
    import torch

    model, proc = trainer.ema, trainer.process
    g = torch.Generator().manual_seed(trainer.config.seed + 3)
    labels = trainer.labels
    classes = torch.unique(labels)
    if trainer.data.kind == "image":
        first = torch.stack([torch.nonzero(labels == k)[0, 0] for k in classes[:16]])
        x0 = trainer.x[first].double()
        rows = []
        for lam in levels:
            t = proc.t_of_logsnr(torch.tensor(float(lam), dtype=torch.float64))
            a, s = float(proc.alpha(t)), float(proc.sigma(t))
            # shown at unit signal scale: x_t / alpha = x0 + (sigma / alpha) eps
            rows.append(x0 + (s / a) * torch.randn(x0.shape, generator=g, dtype=torch.float64))
        shown = trainer.units.to_data_units(torch.cat(rows))
        lo, hi = trainer.data.range or (0.0, 1.0)
        return grid_png(shown.numpy(), cols=len(first), cell=16, value_range=(lo, hi))
    idx = torch.randperm(len(trainer.x), generator=g)[:2000]
    x0 = trainer.x[idx].double()
    t = proc.t_of_logsnr(torch.tensor(2.0, dtype=torch.float64)).expand(len(x0))
    c = model.coefficients(t)
    x_t = c["alpha"][:, None] * x0 + c["sigma"][:, None] * torch.randn(x0.shape, generator=g,
                                                                        dtype=torch.float64)
    with torch.no_grad():
        pred = model.raw(x_t.to(trainer.device, torch.float32), c, None).argmax(1).cpu()
    return scatter_png(trainer.data.x[idx.numpy()], 128, pred.numpy())

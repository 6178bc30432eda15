"""Before/after figure of every inverse-problem method on sklearn's 8x8 digits.

Prior: the `empirical` network (the exact denoiser of a finite data set) on the digits minus a
held-out set; the examples come from the held-out set, so no method can simply recall them. Since
that prior is a mixture of points, the exact posterior is known as well, p(i | y) ∝
exp(-||y - A x_i||^2 / (2 sigma_y^2)): its most likely point is shown as "exact MAP". Operators:
inpainting of the lower half, 2x2 super-resolution, Gaussian deblurring (all with sigma_y = 0.05 in
[-1, 1] pixel units). Sampler: vp-linear, DDIM (eta = 1), 100 steps.

    python benchmarks/inverse_digits.py [--steps 100] [--out docs/figures/inverse_digits.png]

Prints, per operator and method, the mean residual ||y - A x|| and the RMSE to the ground truth;
writes benchmarks/results/inverse_digits.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from studio.core.inverse.guidance import build_operator  # noqa: E402
from studio.core.model import Denoiser  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.pipeline import build_solver  # noqa: E402
from studio.core.registry import GUIDANCE, NETWORKS, PROCESSES  # noqa: E402
from studio.core.runner import SamplingRun  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGMA_Y = 0.05
OPERATORS = [
    ("inpaint (lower half)", {"kind": "inpaint", "mask": [[1.0] * 8] * 4 + [[0.0] * 8] * 4}),
    ("super-resolution x2", {"kind": "super-resolution", "factor": 2}),
    ("deblur (sigma 1 px)", {"kind": "blur", "sigma": 1.0, "cutoff": 0.02}),
]
#: DPS's paper step (1.0) is for 256x256x3 images; 0.1 suits these 64-pixel digits.
METHODS = [("replace", {}), ("dps", {"zeta": 0.1}), ("pigdm", {}), ("ddnm", {}), ("red-diff", {}),
           ("dds", {})]


def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.images.astype(np.float64) / 8.0 - 1.0          # [-1, 1]
    return x[:, None], d.target


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--examples", type=int, default=2, help="digits per operator in the figure")
    ap.add_argument("--eval", type=int, default=32, help="held-out digits scored per operator")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "figures", "inverse_digits.png"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    x, labels = digits()
    rng = np.random.default_rng(0)
    held = rng.choice(len(x), size=max(args.eval, args.examples), replace=False)
    train = np.setdiff1d(np.arange(len(x)), held)
    net = build(NETWORKS.get("empirical"), {"data": x[train].tolist()}, "digits")
    proc = build(PROCESSES.get("vp-linear"), {}, "vp-linear")
    truth = torch.as_tensor(x[held])
    pts = torch.as_tensor(x[train])
    n = len(held)
    grid_rows, table = [], []
    for op_name, spec in OPERATORS:
        op = build_operator(spec)
        op.bind((1, 8, 8))
        g = torch.Generator().manual_seed(1)
        y = op.measure(truth, SIGMA_Y, g)
        # the exact posterior over the data points: its MAP
        d2 = ((op.measured(op.forward(pts))[None] - y[:, None]) ** 2).reshape(n, len(pts), -1).sum(-1)
        exact = pts[d2.argmin(1)]
        shown = {"truth": truth, "y (as A+ y)": op.pinv(y), "exact MAP": exact}
        unseen = None
        if spec["kind"] == "inpaint":
            unseen = 1.0 - np.broadcast_to(np.asarray(spec["mask"]), (8, 8))
        table.append((op_name, "exact MAP", _resid(op, y, exact), _rmse(exact, truth), 0, 0.0))
        for kind, params in METHODS:
            gd = build(GUIDANCE.get(kind), {"operator": spec, "y": y.tolist(), "sigma_y": SIGMA_Y,
                                            **params}, kind)
            z = torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
            solver = build_solver("ddim", {"steps": args.steps, "eta": 1.0, "schedule": "uniform"}, "s")
            t0 = time.perf_counter()
            res = SamplingRun(Denoiser(net, proc, gd), solver, z, seed=3).run()
            sec = time.perf_counter() - t0
            shown[kind] = res.samples
            table.append((op_name, kind, _resid(op, y, res.samples), _rmse(res.samples, truth),
                          res.nfe, sec))
            print(f"{op_name:22s} {kind:9s} resid {table[-1][2]:.3f}  rmse {table[-1][3]:.3f}  "
                  f"nfe {res.nfe}  {sec:.1f}s", flush=True)
        for j in range(args.examples):
            grid_rows.append((f"{op_name}", [(k, v[j, 0].numpy(), unseen if k.startswith("y") else None)
                                             for k, v in shown.items()]))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    render(grid_rows, args.out)
    md = os.path.join(ROOT, "benchmarks", "results", "inverse_digits.md")
    os.makedirs(os.path.dirname(md), exist_ok=True)
    with open(md, "w") as fh:
        fh.write(f"Digits (held-out, {n} per operator), sigma_y = {SIGMA_Y}, DDIM eta=1 "
                 f"{args.steps} steps, empirical prior; residual ||y - A x|| / RMSE to the truth "
                 f"(pixels in [-1, 1]).\n\n| operator | method | residual | RMSE | NFE |\n|---|---|---|---|---|\n")
        for op_name, kind, r, e, nfe, _ in table:
            fh.write(f"| {op_name} | {kind} | {r:.3f} | {e:.3f} | {nfe} |\n")
    print(f"wrote {args.out} and {md}")
    return 0


def _resid(op, y, xs):
    return float((op.measured(op.forward(xs)) - y).reshape(len(xs), -1).norm(dim=1).mean())


def _rmse(xs, truth):
    return float(((xs - truth) ** 2).reshape(len(xs), -1).mean(1).sqrt().mean())


def render(rows, path, cell=64, pad=12):
    """A labelled grid of 8x8 images (nearest-neighbour upscaled), dark ink on white; unobserved
    pixels of a measurement are tinted."""
    cols = [k for k, _, _ in rows[0][1]]
    try:
        font = ImageFont.load_default(size=13)
    except TypeError:  # older Pillow
        font = ImageFont.load_default()
    left, top = 150, 28
    w = left + len(cols) * (cell + pad) + pad
    h = top + len(rows) * (cell + pad) + pad
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    for c, name in enumerate(cols):
        x0 = left + pad + c * (cell + pad)
        draw.text((x0 + cell / 2, top / 2), name, fill="black", font=font, anchor="mm")
    for r, (label, tiles) in enumerate(rows):
        y0 = top + pad + r * (cell + pad)
        draw.text((8, y0 + cell / 2), label, fill="black", font=font, anchor="lm")
        for c, (_, arr, unseen) in enumerate(tiles):
            v = 1.0 - np.clip((arr + 1.0) / 2.0, 0.0, 1.0)
            rgb = np.repeat(v[..., None], 3, axis=-1)
            if unseen is not None:
                rgb[unseen > 0] = (0.85, 0.90, 1.0)
            tile = Image.fromarray((255 * rgb).astype(np.uint8), "RGB").resize((cell, cell),
                                                                               Image.NEAREST)
            x0 = left + pad + c * (cell + pad)
            img.paste(tile, (x0, y0))
            draw.rectangle([x0 - 1, y0 - 1, x0 + cell, y0 + cell], outline=(180, 180, 180))
    img.save(path)


if __name__ == "__main__":
    sys.exit(main())

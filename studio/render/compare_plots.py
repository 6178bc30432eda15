"""Figures of a comparison: the grid of final samples and the error-vs-NFE plot.

:func:`grid_figure` and :func:`error_figure` build pyqtgraph layouts (an app can embed them);
:func:`save_grid` / :func:`save_error_vs_nfe` render them to PNG offscreen.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from . import ensure_app

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
SYMBOLS = ("o", "s", "t", "d", "+", "x", "star", "p", "h", "t1")


def row_color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _fmt(v: Optional[float]) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}"


def _style_plot(p, font_pt: int = 9):
    from PySide6.QtGui import QFont

    f = QFont()
    f.setPointSize(font_pt)
    for name in ("left", "bottom"):
        ax = p.getAxis(name)
        ax.setStyle(tickFont=f)
        ax.setTextPen("k")
        ax.setPen("k")


def _export(win, path: str, scale: float = 2.0) -> None:
    import pyqtgraph.exporters as exporters

    app = ensure_app()
    win.show()
    for _ in range(4):
        app.processEvents()
    ex = exporters.ImageExporter(win.scene())
    ex.parameters()["width"] = int(win.width() * scale)
    ex.parameters()["antialias"] = True
    image = ex.export(toBytes=True)
    win.close()
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from ..core.atomic import write_atomic
    from ..core.errors import StudioError

    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    ok = image is not None and not image.isNull() and image.save(buf, "PNG")
    buf.close()
    if not ok or data.size() == 0:
        raise StudioError("the plot could not be rendered to PNG", path)
    write_atomic(path, bytes(data.data()))  # atomic: a full disk never leaves half a plot


def _title(comp) -> str:
    pipe = comp.spec.pipeline
    (pid,), (nid,) = pipe.of_type("process"), pipe.of_type("network")
    name = pipe.source.rsplit("/", 1)[-1] if pipe.source else "pipeline"
    return (f"{name}: {pipe.nodes[nid].kind} network, {pipe.nodes[pid].kind} process, "
            f"batch {pipe.run.batch}, seed {pipe.run.seed}")


def log_ticks(lo: float, hi: float) -> list:
    """Ticks for a log10 axis over [lo, hi] (data units): labelled 1-2-5 steps, unlabelled minors.
    Returned in pyqtgraph's form for ``AxisItem.setTicks`` (positions in log10 units)."""
    if not (lo > 0 and hi > 0):
        return []
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = k1 - k0
    major, minor = [], []
    for k in range(k0 - 1, k1 + 1):
        for m in range(1, 10):
            v = m * 10.0 ** k
            if not lo / 1.001 <= v <= hi * 1.001:
                continue
            label = m == 1 or (m in (2, 5) and decades <= 3)
            (major if label else minor).append((math.log10(v), f"{v:g}" if label else ""))
    if len(major) < 2:  # a narrow range: label every minor
        major = major + [(x, f"{10 ** x:.2g}") for x, _ in minor]
        minor = []
    return [major, minor]


def _is_image(shape) -> bool:
    return len(shape) >= 2


def _montage(x: np.ndarray, n: int, lo: float, hi: float) -> np.ndarray:
    """First n*n images [B, C, H, W] or [B, H, W] tiled into one [n*H, n*W(, 3)] array in 0..1."""
    if x.ndim == 3:
        x = x[:, None]
    x = x[: n * n]
    b, c, h, w = x.shape
    img = np.ones((n * (h + 1) - 1, n * (w + 1) - 1, 3 if c == 3 else 1))
    for i in range(b):
        r, q = divmod(i, n)
        tile = np.moveaxis(x[i], 0, -1) if c in (1, 3) else x[i, :1].transpose(1, 2, 0)
        img[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = tile
    img = np.clip((img - lo) / (hi - lo), 0, 1)
    return img[..., 0] if img.shape[-1] == 1 else img


def _limits(arrs: list[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    pts = np.concatenate([a[:, :2] for a in arrs if a is not None and len(a)])
    lo = np.percentile(pts, 0.5, axis=0)
    hi = np.percentile(pts, 99.5, axis=0)
    span = np.maximum(hi - lo, 1e-9)
    lo, hi = lo - 0.08 * span, hi + 0.08 * span
    # square the view so the geometry is not distorted
    c, half = 0.5 * (lo + hi), 0.5 * float(np.max(hi - lo))
    return (c[0] - half, c[0] + half), (c[1] - half, c[1] + half)


def grid_figure(comp, cell_px: int = 200, max_points: int = 3000, tiles: int = 4,
                metric: Optional[str] = None):
    """A GraphicsLayoutWidget: rows = solver / schedule, columns = NFE budget; each cell shows the
    final samples (scatter over the data for low-D, a tile of images for images)."""
    ensure_app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    spec = comp.spec
    rows, nfes = spec.row_labels(), spec.nfes
    shape = tuple(next((r.samples.shape[1:] for r in comp.results.values()
                        if r.samples is not None), (2,)))
    image = _is_image(shape)
    active = [m.id for m in comp.active_metrics() if m.plot]
    metric = metric or (active[0] if active else None)
    win = pg.GraphicsLayoutWidget()
    win.resize(max(760, 100 + (cell_px + 8) * len(nfes)), 110 + (cell_px + 8) * len(rows))
    lay = win.ci
    lay.setSpacing(4)
    lay.addLabel(_title(comp), col=0, colspan=len(nfes) + 1, size="11pt")
    lay.nextRow()
    ref = comp.reference_summary()
    sub = ("grey: data samples; " if comp.data is not None and not image else "") + (
        f"{metric} against the reference ({'; '.join(ref['methods'])})" if metric == "rmse" and
        ref["methods"] else "")
    lay.addLabel(sub, col=0, colspan=len(nfes) + 1, size="8pt", color="#555")
    lay.nextRow()
    lay.addLabel("", col=0)
    for c, n in enumerate(nfes):
        lay.addLabel(f"NFE budget {n}", col=c + 1, size="10pt", bold=True)
    data = comp.data.reshape(len(comp.data), -1).numpy() if comp.data is not None else None
    sample_arrs = [r.samples.reshape(len(r.samples), -1).numpy() for r in comp.results.values()
                   if r.samples is not None]
    if not image:
        dims = 1 if int(np.prod(shape)) == 1 else 2
        base = [data] if data is not None else sample_arrs
        if dims == 2:
            xlim, ylim = _limits(base)
    else:
        every = np.concatenate(sample_arrs) if sample_arrs else np.zeros(1)
        lo, hi = (-1.0, 1.0) if every.min() >= -1.5 and every.max() <= 1.5 else (
            float(every.min()), float(every.max()))
    for r, label in enumerate(rows):
        lay.nextRow()
        lab = lay.addLabel(label, col=0, angle=-90, size="10pt", bold=True, color=row_color(r))
        lab.setFixedWidth(28)
        for c, n in enumerate(nfes):
            res = comp.cell_result(r, c)
            p = lay.addPlot(col=c + 1)
            p.setMenuEnabled(False)
            p.hideButtons()
            p.setFixedWidth(cell_px)
            p.setFixedHeight(cell_px)
            _style_plot(p, 7)
            if c > 0:
                p.getAxis("left").setStyle(showValues=False)
            if r < len(rows) - 1:
                p.getAxis("bottom").setStyle(showValues=False)
            if res is None or res.samples is None:
                p.hideAxis("left")
                p.hideAxis("bottom")
                msg = "not run" if res is None else f"{res.status}: {res.message}"
                t = pg.TextItem(msg[:80], color="#a00", anchor=(0.5, 0.5))
                p.addItem(t)
                t.setPos(0, 0)
                p.setXRange(-1, 1)
                p.setYRange(-1, 1)
                continue
            x = res.samples.numpy()
            ttl = f"NFE {res.nfe}"
            if metric and res.metrics.get(metric) is not None:
                ttl += f" · {metric} {_fmt(res.metrics[metric])}"
            p.setTitle(ttl, size="8pt")
            if image:
                p.hideAxis("left")
                p.hideAxis("bottom")
                img = _montage(x, tiles, lo, hi)
                item = pg.ImageItem((img * 255).astype(np.uint8).swapaxes(0, 1)
                                    if img.ndim == 2 else (img * 255).astype(np.uint8).swapaxes(0, 1))
                p.addItem(item)
                p.invertY(True)
                p.setAspectLocked(True)
                continue
            xf = x.reshape(len(x), -1)[:max_points]
            if dims == 1:
                bins = np.linspace(*np.percentile(np.concatenate(base)[:, 0], [0.5, 99.5]), 60)
                if data is not None:
                    hd, _ = np.histogram(data[:, 0], bins=bins, density=True)
                    p.plot(bins, hd, stepMode="center", pen=pg.mkPen("#999", width=1))
                hs, _ = np.histogram(xf[:, 0], bins=bins, density=True)
                p.plot(bins, hs, stepMode="center", pen=pg.mkPen(row_color(r), width=1.5))
                continue
            if data is not None:
                d = data[:max_points]
                p.addItem(pg.ScatterPlotItem(d[:, 0], d[:, 1], size=2, pen=pg.mkPen(None),
                                             brush=pg.mkBrush(170, 170, 170, 140)))
            col = pg.mkColor(row_color(r))
            col.setAlpha(170)
            p.addItem(pg.ScatterPlotItem(xf[:, 0], xf[:, 1], size=3, pen=pg.mkPen(None), brush=pg.mkBrush(col)))
            p.setXRange(*xlim, padding=0)
            p.setYRange(*ylim, padding=0)
    return win


def save_grid(comp, path: str, **kw) -> str:
    _export(grid_figure(comp, **kw), path)
    return path


def error_figure(comp, metrics: Optional[list[str]] = None, panel_px: int = 380):
    """A GraphicsLayoutWidget with one log-log panel per quality metric (RMSE to the reference,
    distances to data with their sample-vs-sample floor dashed) against the actual NFE."""
    ensure_app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    ids = metrics or [m.id for m in comp.active_metrics() if m.plot]
    by_id = {m.id: m for m in comp.metrics}
    ids = [i for i in ids if any(v for v in comp.series(i).values())]
    win = pg.GraphicsLayoutWidget()
    win.resize(max(1, len(ids)) * panel_px + 40, panel_px + 130 + 22 * (2 + len(comp.spec.row_labels()) // 3))
    lay = win.ci
    lay.addLabel(_title(comp), col=0, colspan=max(1, len(ids)), size="11pt")
    ref = comp.reference_summary()
    if ref["methods"]:
        lay.nextRow()
        lay.addLabel("reference: " + "; ".join(ref["methods"]), col=0, colspan=max(1, len(ids)),
                     size="8pt", color="#555")
    lay.nextRow()
    all_nfe = sorted({n for i in ids for s in comp.series(i).values() for n, _ in s})
    rows = comp.spec.row_labels()
    keyed: dict = {}
    for k, mid in enumerate(ids):
        m = by_id[mid]
        p = lay.addPlot(col=k)
        p.setMenuEnabled(False)
        p.hideButtons()
        _style_plot(p, 9)
        series = comp.series(mid)
        vals = [v for s in series.values() for _, v in s] + (
            [comp.floors[mid]] if mid in comp.floors else [])
        logy = m.lower_is_better and vals and min(vals) > 0
        p.setLogMode(x=True, y=bool(logy))
        p.showGrid(x=True, y=True, alpha=0.25)
        for r, label in enumerate(rows):
            pts = sorted(series.get(label, []))
            if not pts:
                continue
            xs, ys = zip(*pts)
            item = p.plot(list(xs), list(ys), pen=pg.mkPen(row_color(r), width=2),
                          symbol=SYMBOLS[r % len(SYMBOLS)], symbolSize=7, symbolBrush=row_color(r),
                          symbolPen=pg.mkPen(row_color(r)))
            if label not in keyed:
                keyed[label] = item
        if all_nfe and mid in comp.floors and comp.floors[mid] is not None:
            f = comp.floors[mid]
            item = p.plot([all_nfe[0], all_nfe[-1]], [f, f],
                          pen=pg.mkPen("#444", width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine))
            keyed.setdefault("floor: data vs data (same batch size)", item)
        if mid == "rmse" and all_nfe and len(all_nfe) > 1:
            ys_last = [v for s in series.values() for n, v in s if n == max(n2 for n2, _ in s)]
            if ys_last:
                anchor_x = all_nfe[-1]
                anchor_y = float(np.exp(np.mean(np.log(ys_last))))
                for order, style in ((1, pg.QtCore.Qt.PenStyle.DotLine),
                                     (2, pg.QtCore.Qt.PenStyle.DashDotLine)):
                    x0 = all_nfe[0]
                    item = p.plot([x0, anchor_x], [anchor_y * (anchor_x / x0) ** order, anchor_y],
                                  pen=pg.mkPen("#888", width=1.2, style=style))
                    keyed.setdefault(f"guide: slope -{order} (order {order})", item)
        budgets = comp.spec.nfes
        lo_x, hi_x = min(all_nfe + budgets), max(all_nfe + budgets)
        p.getAxis("bottom").setTicks([[(math.log10(n), str(n)) for n in budgets]])
        p.setXRange(math.log10(lo_x) - 0.05, math.log10(hi_x) + 0.05, padding=0)
        if logy:
            p.getAxis("left").setTicks(log_ticks(min(vals), max(vals)))
        p.setLabel("bottom", "NFE (network evaluations, final denoise included)")
        unit = f" [{m.unit}]" if m.unit else ""
        p.setLabel("left", f"{m.title}{unit}")
        p.setTitle(mid, size="10pt")
    if keyed:
        legend = pg.LegendItem(labelTextSize="11pt", brush=pg.mkBrush(255, 255, 255),
                               pen=pg.mkPen("#bbb"), colCount=3, horSpacing=24)
        for name, item in keyed.items():
            legend.addItem(item, name)
        lay.nextRow()
        lay.addItem(legend, col=0, colspan=max(1, len(ids)))
    if not ids:
        lay.addLabel("no metric values to plot", col=0)
    return win


def save_error_vs_nfe(comp, path: str, **kw) -> str:
    _export(error_figure(comp, **kw), path)
    return path


__all__ = ["grid_figure", "error_figure", "save_grid", "save_error_vs_nfe", "row_color", "PALETTE"]

"""Error-vs-axis figures of a sweep: one panel per metric, the swept axis's values on x (its
numbers, or its values' positions with their labels as ticks for swapped nodes and other
non-numeric values), one curve per combination of the other dimensions.

:func:`axis_figure` builds a pyqtgraph layout (the app embeds it); :func:`save_error_vs_axis`
renders it to PNG offscreen.
"""
from __future__ import annotations

import math
from typing import Optional

from . import ensure_app
from .compare_plots import SYMBOLS, _style_plot, _title, _export, row_color


def axis_figure(comp, dim: str, metrics: Optional[list[str]] = None, panel_px: int = 380):
    ensure_app()
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    ids = metrics or [m.id for m in comp.active_metrics() if m.plot]
    by_id = {m.id: m for m in comp.metrics}
    ids = [i for i in ids if any(v for v in comp.series_over(i, dim)[0].values())]
    curves0 = comp.series_over(ids[0], dim)[0] if ids else {}
    win = pg.GraphicsLayoutWidget()
    win.resize(max(1, len(ids)) * panel_px + 40, panel_px + 130 + 22 * (2 + len(curves0) // 3))
    lay = win.ci
    lay.addLabel(f"{_title(comp)} - error vs {dim}", col=0, colspan=max(1, len(ids)), size="11pt")
    lay.nextRow()
    keyed: dict = {}
    for k, mid in enumerate(ids):
        m = by_id[mid]
        curves, ticks = comp.series_over(mid, dim)
        p = lay.addPlot(col=k)
        p.setMenuEnabled(False)
        p.hideButtons()
        _style_plot(p, 9)
        vals = [v for pts in curves.values() for _, v in pts]
        xs_all = sorted({x for pts in curves.values() for x, _ in pts})
        logy = bool(m.lower_is_better and vals and min(vals) > 0)
        logx = bool(not ticks and xs_all and min(xs_all) > 0
                    and max(xs_all) / min(xs_all) >= 20)
        p.setLogMode(x=logx, y=logy)
        p.showGrid(x=True, y=True, alpha=0.25)
        for r, (label, pts) in enumerate(curves.items()):
            if not pts:
                continue
            xs, ys = zip(*sorted(pts))
            item = p.plot(list(xs), list(ys), pen=pg.mkPen(row_color(r), width=2),
                          symbol=SYMBOLS[r % len(SYMBOLS)], symbolSize=7,
                          symbolBrush=row_color(r), symbolPen=pg.mkPen(row_color(r)))
            keyed.setdefault(label, item)
        if mid in comp.floors and comp.floors[mid] is not None and xs_all:
            f = comp.floors[mid]
            keyed.setdefault("floor: data vs data", p.plot(
                [xs_all[0], xs_all[-1]], [f, f],
                pen=pg.mkPen("#444", width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)))
        if ticks:
            p.getAxis("bottom").setTicks([[(x, lab[:28]) for x, lab in ticks.items()]])
        elif xs_all and len(xs_all) <= 12:
            p.getAxis("bottom").setTicks([[((math.log10(x) if logx else x), f"{x:g}")
                                           for x in xs_all]])
        p.setLabel("bottom", dim)
        p.setLabel("left", f"{m.title}" + (f" [{m.unit}]" if m.unit else ""))
        p.setTitle(mid, size="10pt")
    if keyed:
        legend = pg.LegendItem(labelTextSize="10pt", brush=pg.mkBrush(255, 255, 255),
                               pen=pg.mkPen("#bbb"), colCount=2, horSpacing=24)
        for name, item in keyed.items():
            legend.addItem(item, name[:90])
        lay.nextRow()
        lay.addItem(legend, col=0, colspan=max(1, len(ids)))
    if not ids:
        lay.addLabel("no metric values to plot", col=0)
    return win


def axis_file_name(dim: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dim)
    return f"error_vs_{safe}.png"


def save_error_vs_axis(comp, path: str, dim: str, **kw) -> str:
    _export(axis_figure(comp, dim, **kw), path)
    return path


__all__ = ["axis_figure", "save_error_vs_axis", "axis_file_name"]

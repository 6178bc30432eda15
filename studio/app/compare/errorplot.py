"""Error against NFE (log-log, one line per row) or against any sweep axis (one line per
combination of the other dimensions), the data-vs-data floor dashed.

The metric is chosen in a combo box (RMSE to the reference, sliced Wasserstein, MMD, ...). Hover
shows the value of the nearest point; clicking a point selects its cell in the grid and table.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ...render.compare_plots import SYMBOLS, log_ticks, row_color
from .grid import MUTED, SELECTED, fmt
from .session import CompareSession
from ..colors import current


class ErrorPlot(QWidget):
    def __init__(self, session: CompareSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.points: list[tuple[float, float, int]] = []   # (log10 nfe, y in view units, cell)
        self.metric = QComboBox()
        self.metric.setToolTip("The quality measure plotted against the NFE")
        self.metric.currentIndexChanged.connect(lambda _i: self.redraw())
        self.dim = QComboBox()
        self.dim.setToolTip("The x axis: the NFE, or one of the comparison's sweep axes")
        self.dim.currentIndexChanged.connect(lambda _i: self.redraw())
        for combo in (self.metric, self.dim):     # filled later: room for a choice from the start
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.info = QLabel("")
        self.info.setTextFormat(Qt.RichText)
        self.info.setStyleSheet(f"color: {MUTED};")
        top = QHBoxLayout()
        top.setContentsMargins(6, 0, 6, 0)
        top.addWidget(QLabel("error"))
        top.addWidget(self.metric)
        top.addWidget(QLabel("vs"))
        top.addWidget(self.dim)
        top.addWidget(self.info, 1)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(current().plot)
        self.plot = self.canvas.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.18)
        for name in ("left", "bottom"):
            ax = self.plot.getAxis(name)
            ax.setPen(pg.mkPen("#4a545e"))
            ax.setTextPen(pg.mkPen(current().axis))
        self.plot.setLabel("bottom", "NFE (final denoise included)", color=MUTED)
        # the legend in a column of its own, so it never hides a line
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.legend = pg.LegendItem(labelTextColor=current().text, labelTextSize="8pt")
        self.legend.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        self.canvas.addItem(self.legend, row=0, col=1)
        self.canvas.ci.layout.setAlignment(self.legend, Qt.AlignTop)
        self.marker = pg.ScatterPlotItem(size=18, pen=pg.mkPen(SELECTED, width=2), brush=None)
        self.marker.setZValue(20)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.canvas, 1)
        self.canvas.scene().sigMouseMoved.connect(self._hover)
        self.canvas.scene().sigMouseClicked.connect(self._clicked)
        session.reset.connect(self._reset)
        session.cellsAdded.connect(lambda _i: self._refresh_metrics() or self.redraw())
        session.selectionChanged.connect(lambda _i: self._mark())
        self._reset()

    def _reset(self) -> None:
        self._refresh_metrics()
        self.redraw()

    def _refresh_metrics(self) -> None:
        comp = self.session.comparison
        dims = comp.dimensions() if comp is not None else ["nfe"]
        if dims != [self.dim.itemData(i) for i in range(self.dim.count())]:
            self.dim.blockSignals(True)
            self.dim.clear()
            for d in dims:
                self.dim.addItem("NFE" if d == "nfe" else d, d)
            self.dim.blockSignals(False)
        ids = [m.id for m in comp.active_metrics() if m.plot] if comp is not None else []
        have = [self.metric.itemData(i) for i in range(self.metric.count())]
        if ids == have:
            return
        cur = self.metric.currentData()
        self.metric.blockSignals(True)
        self.metric.clear()
        for mid in ids:
            self.metric.addItem(mid, mid)
        if cur in ids:
            self.metric.setCurrentIndex(ids.index(cur))
        self.metric.blockSignals(False)

    def current_metric(self):
        return self.metric.currentData()

    def redraw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.points = []
        comp, mid = self.session.comparison, self.current_metric()
        if comp is None or mid is None:
            self.plot.addItem(self.marker)
            return
        m = next(x for x in comp.metrics if x.id == mid)
        if (self.dim.currentData() or "nfe") != "nfe":
            self._redraw_axis(comp, m, self.dim.currentData())
            return
        self.plot.setLabel("bottom", "NFE (final denoise included)", color=MUTED)
        rows: dict[int, list] = {}
        for idx in sorted(comp.results):
            r = comp.results[idx]
            v = r.metrics.get(mid) if r.ok else None
            if v is not None and math.isfinite(v) and r.nfe > 0:
                rows.setdefault(r.cell.row, []).append((r.nfe, v, idx))
        vals = [v for pts in rows.values() for _, v, _ in pts]
        floor = comp.floors.get(mid)
        logy = bool(m.lower_is_better and vals and min(vals + ([floor] if floor else [])) > 0)
        self.plot.setLogMode(x=True, y=logy)
        labels = comp.spec.row_labels()
        for r, pts in sorted(rows.items()):
            pts.sort()
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            item = self.plot.plot(xs, ys, pen=pg.mkPen(row_color(r), width=2),
                                  symbol=SYMBOLS[r % len(SYMBOLS)], symbolSize=8,
                                  symbolBrush=row_color(r), symbolPen=pg.mkPen(row_color(r)))
            self.legend.addItem(item, labels[r])
            for n, v, idx in pts:
                self.points.append((math.log10(n), math.log10(v) if logy else v, idx))
        nfes = [p[0] for pts in rows.values() for p in pts] + list(comp.spec.nfes)
        if floor is not None and math.isfinite(floor):
            item = self.plot.plot([min(nfes), max(nfes)], [floor, floor],
                                  pen=pg.mkPen("#b0b8c0", width=1.5, style=Qt.DashLine))
            self.legend.addItem(item, "floor: data vs data")
        self.plot.getAxis("bottom").setTicks([[(math.log10(n), str(n)) for n in comp.spec.nfes]])
        span = vals + ([floor] if floor is not None and math.isfinite(floor) else [])
        self.plot.getAxis("left").setTicks(log_ticks(min(span), max(span)) if logy else None)
        self.plot.setLabel("left", f"{m.title}" + (f" [{m.unit}]" if m.unit else ""), color=MUTED)
        self.plot.addItem(self.marker)
        self._mark()

    def _redraw_axis(self, comp, m, dim: str) -> None:
        """Error against a sweep axis: x its value (or position, for swapped nodes and other
        non-numeric values), one curve per combination of the other axes, row and budget."""
        k = [a.target for a in comp.spec.axes].index(dim)
        ax = comp.spec.axes[k]
        curves: dict[str, list] = {}
        for idx in sorted(comp.results):
            r = comp.results[idx]
            v = r.metrics.get(m.id) if r.ok else None
            if v is None or not math.isfinite(v):
                continue
            c = r.cell
            key = " | ".join([f"{a.target}={a.labels[j]}" for i, (a, j) in
                              enumerate(zip(comp.spec.axes, c.point)) if i != k]
                             + [c.row_label.split(" | ")[-1], f"@ {c.nfe}"])
            x = float(ax.values[c.point[k]]) if ax.numeric else float(c.point[k])
            curves.setdefault(key, []).append((x, v, idx))
        vals = [v for pts in curves.values() for _, v, _ in pts]
        floor = comp.floors.get(m.id)
        logy = bool(m.lower_is_better and vals and min(vals + ([floor] if floor else [])) > 0)
        xs_all = sorted({x for pts in curves.values() for x, _, _ in pts})
        logx = bool(ax.numeric and xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 20)
        self.plot.setLogMode(x=logx, y=logy)
        for n, (label, pts) in enumerate(curves.items()):
            pts.sort()
            item = self.plot.plot([p[0] for p in pts], [p[1] for p in pts],
                                  pen=pg.mkPen(row_color(n), width=2), symbol=SYMBOLS[n % len(SYMBOLS)],
                                  symbolSize=8, symbolBrush=row_color(n),
                                  symbolPen=pg.mkPen(row_color(n)))
            self.legend.addItem(item, label)
            for x, v, idx in pts:
                self.points.append((math.log10(x) if logx else x, math.log10(v) if logy else v, idx))
        if floor is not None and math.isfinite(floor) and xs_all:
            item = self.plot.plot([xs_all[0], xs_all[-1]], [floor, floor],
                                  pen=pg.mkPen("#b0b8c0", width=1.5, style=Qt.DashLine))
            self.legend.addItem(item, "floor: data vs data")
        ticks = ([(float(j), lab[:24]) for j, lab in enumerate(ax.labels)] if not ax.numeric else
                 [((math.log10(x) if logx else x), f"{x:g}") for x in xs_all])
        self.plot.getAxis("bottom").setTicks([ticks])
        span = vals + ([floor] if floor is not None and math.isfinite(floor) else [])
        self.plot.getAxis("left").setTicks(log_ticks(min(span), max(span)) if logy and span else None)
        self.plot.setLabel("bottom", dim, color=MUTED)
        self.plot.setLabel("left", f"{m.title}" + (f" [{m.unit}]" if m.unit else ""), color=MUTED)
        self.plot.addItem(self.marker)
        self._mark()

    def _mark(self) -> None:
        sel = self.session.selected
        pts = [(x, y) for x, y, i in self.points if i == sel]
        self.marker.setData([p[0] for p in pts], [p[1] for p in pts])

    def _nearest(self, scene_pos, radius_px: float = 12.0):
        if not self.points:
            return None
        vb = self.plot.vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        v = vb.mapSceneToView(scene_pos)
        px = vb.viewPixelSize()
        arr = np.array([(x, y) for x, y, _ in self.points])
        d = np.hypot((arr[:, 0] - v.x()) / px[0], (arr[:, 1] - v.y()) / px[1])
        k = int(np.argmin(d))
        return self.points[k][2] if d[k] <= radius_px else None

    def _hover(self, scene_pos) -> None:
        idx = self._nearest(scene_pos)
        comp = self.session.comparison
        if idx is None or comp is None:
            self.info.setText("")
            return
        r = comp.results[idx]
        mid = self.current_metric()
        self.info.setText(f"<b style='color:{row_color(r.cell.row)}'>{r.cell.row_label}</b> · "
                          f"budget {r.cell.nfe}, NFE {r.nfe} · {mid} {fmt(r.metrics.get(mid))}")

    def _clicked(self, ev) -> None:
        idx = self._nearest(ev.scenePos())
        if idx is not None:
            self.session.select(idx)

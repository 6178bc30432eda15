"""Conservativity tab: is the learned field a gradient? The Jacobian asymmetry
||J - J^T|| / ||J|| of the score at marginal points across t, and for 2-D models the curl of the
score on a grid at a chosen t (click a point of the curve to move there)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QSplitter, QVBoxLayout, QWidget)

from ...core.diagnostics import Grid2D, asymmetry_over_time, curl_2d
from .heatmap import MUTED, Heatmap, style_axes
from .model import load, log_times, square_limits
from ..colors import current

#: below this mean asymmetry a field counts as conservative (analytic fields give ~1e-13)
CONSERVATIVE = 1e-6
#: smaller ratios (round-off, exact zeros) are drawn at this value on the log axis
FLOOR = 1e-16


class ConservativityTab(QWidget):
    def __init__(self, panel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.result = None
        self.ts = np.array([])
        self.points = QSpinBox()
        self.points.setRange(2, 100000)
        self.points.setValue(256)
        self.points.setToolTip("Marginal points x_t (from data samples) per time")
        self.times = QSpinBox()
        self.times.setRange(2, 200)
        self.times.setValue(16)
        self.times.setToolTip("Times from t_min to t_max, evenly spaced in log-SNR")
        self.method = QComboBox()
        for m in ("auto", "exact", "probes"):
            self.method.addItem(m, m)
        self.method.setToolTip("exact: full Jacobian (low-D); probes: Jacobian-vector products")
        self.grid_n = QSpinBox()
        self.grid_n.setRange(8, 256)
        self.grid_n.setValue(64)
        self.grid_n.setToolTip("Curl grid points per side (2-D models)")
        self.t_slider = QSlider(Qt.Horizontal)
        self.t_slider.setRange(0, 0)
        self.t_slider.setToolTip("The time of the curl heatmap")
        self.t_slider.valueChanged.connect(self._t_label)
        self.t_text = QLabel("t")
        self.t_text.setMinimumWidth(90)
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(lambda: self.compute())
        self.curl_button = QPushButton("Curl at t")
        self.curl_button.setToolTip("Recompute the curl heatmap at the chosen time")
        self.curl_button.clicked.connect(lambda: self.compute(curl_only=True))
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        for w in (QLabel("points"), self.points, QLabel("times"), self.times, QLabel("Jacobian"),
                  self.method, QLabel("curl grid"), self.grid_n, self.t_slider, self.t_text,
                  self.curl_button):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.compute_button)

        self.curl = Heatmap("curl of the score", cmap="CET-D1", unit="(relative)")
        self.curve = pg.PlotWidget(background=current().plot)
        self.curve.setMenuEnabled(False)
        self.curve.hideButtons()
        self.curve.showGrid(x=True, y=True, alpha=0.18)
        style_axes(self.curve.getPlotItem())
        self.curve.setLabel("bottom", "t", color=MUTED)
        self.curve.setLabel("left", "‖J − Jᵀ‖ / ‖J‖ of the score", color=MUTED)
        self.curve.setLogMode(x=True, y=True)
        self.curve.getAxis("left").enableAutoSIPrefix(False)
        self.legend = self.curve.addLegend(offset=(-8, 8), labelTextColor=current().text)
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffd24a", width=1, style=Qt.DashLine))
        self.curve_info = QLabel("")
        self.curve_info.setStyleSheet(f"color: {MUTED}; padding: 0 4px;")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(1)
        self.verdict = QLabel("Analytic fields are exact scores (gradients of log p_t): their "
                              "Jacobian is symmetric. A trained network's need not be.")
        self.verdict.setTextFormat(Qt.RichText)
        self.verdict.setWordWrap(True)
        self.verdict.setStyleSheet("padding: 2px 4px;")
        rl.addWidget(self.verdict)
        rl.addWidget(self.curve, 1)
        rl.addWidget(self.curve_info)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.curl)
        split.addWidget(right)
        split.setSizes([500, 600])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        self.curve.scene().sigMouseMoved.connect(self._hover)
        self.curve.scene().sigMouseClicked.connect(self._clicked)
        self.curl_button.setEnabled(False)

    def set_busy(self, busy: bool) -> None:
        self.compute_button.setEnabled(not busy)
        self.curl_button.setEnabled(not busy and self.result is not None
                                    and self.result.get("curl") is not None)

    def _t_label(self, i: int) -> None:
        if len(self.ts):
            self.t_text.setText(f"t = {self.ts[i]:.3g}")
            self.marker.setValue(math.log10(self.ts[i]))

    def compute(self, curl_only: bool = False) -> bool:
        n_pts, n_t, method, n = (int(self.points.value()), int(self.times.value()),
                                 self.method.currentData(), int(self.grid_n.value()))
        prev = self.result if curl_only else None
        t_index = self.t_slider.value() if curl_only else None

        def task(ctx, pipe):
            m = load(pipe)
            m.require_gradients("Jacobian asymmetry and curl")
            ts = prev["ts"] if prev is not None else log_times(m.process, n_t)
            if prev is None:
                ctx.progress(0.0, "data samples")
                x0, origin = m.data(n_pts, seed=2, cancel=ctx.cancel)
                curve = asymmetry_over_time(m.den, x0, ts, method=method, seed=3)
                ctx.check()
            else:
                x0, origin, curve = prev["x0"], prev["origin"], prev["curve"]
            curl, k = None, None
            if m.is_2d:
                k = t_index if t_index is not None else len(ts) // 2
                ctx.progress(0.8, f"curl at t = {ts[k]:.3g}")
                xlim, ylim = square_limits(x0.numpy())
                curl = curl_2d(m.den, float(ts[k]), xlim, ylim, n)
            return {"ts": ts, "curve": curve, "curl": curl, "k": k, "x0": x0, "origin": origin}

        return self.panel.start("conservativity", task, self.show_result)

    def show_result(self, out: dict) -> None:
        self.result = out
        self.ts = out["ts"]
        curve, curl = out["curve"], out["curl"]
        self.t_slider.blockSignals(True)
        self.t_slider.setRange(0, len(self.ts) - 1)
        if out["k"] is not None:
            self.t_slider.setValue(out["k"])
        self.t_slider.blockSignals(False)
        self.curve.clear()
        self.legend.clear()
        floor = FLOOR      # log axes: round-off and exact zeros are drawn at the floor
        self.curve.plot(self.ts, np.maximum(curve.mean, floor), pen=pg.mkPen("#ffc440", width=2),
                        symbol="o", symbolSize=6, symbolBrush="#ffc440", name="mean over points")
        self.curve.plot(self.ts, np.maximum(curve.median, floor), pen=pg.mkPen("#6cb4ff", width=1.5),
                        symbol="s", symbolSize=5, symbolBrush="#6cb4ff", name="median")
        self.curve.addItem(self.marker)
        self._t_label(self.t_slider.value())
        worst = float(np.max(curve.mean))
        verdict = ("<span style='color:#6cd27a'>conservative</span>: the field is a gradient, as "
                   "an exact score must be" if worst < CONSERVATIVE else
                   "<span style='color:#e8b04a'>not conservative</span>: the learned field is not "
                   "a gradient where the ratio is large")
        self.verdict.setText(f"largest mean asymmetry {worst:.2g} ({curve.method} Jacobian, "
                             f"{curve.ratios.shape[1]} points: {out['origin']}) — {verdict}")
        if curl is None:
            self.curl.clear("curl: 2-D models only")
            return
        rel = curl.extra["relative"]
        top = float(np.nanmax(np.abs(rel))) or 1e-300
        self.curl.set_grid(Grid2D(curl.xs, curl.ys, rel, curl.t, curl.method), (-top, top))
        self.curl.set_title(f"curl of the score / ‖J‖ at t = {curl.t:.3g} "
                            f"<span style='color:{MUTED}'>(max |curl| {np.abs(curl.values).max():.2g})"
                            "</span>")
        self.curl.set_particles(out["x0"].numpy()[:400])

    def _nearest(self, scene_pos):
        if self.result is None or not len(self.ts):
            return None
        vb = self.curve.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        x = vb.mapSceneToView(scene_pos).x()
        return int(np.argmin(np.abs(np.log10(self.ts) - x)))

    def _hover(self, scene_pos) -> None:
        k = self._nearest(scene_pos)
        if k is None:
            return
        c = self.result["curve"]
        self.curve_info.setText(f"t = {self.ts[k]:.4g}: mean {c.mean[k]:.3g}, median "
                                f"{c.median[k]:.3g}, max {c.ratios[k].max():.3g} — click to show "
                                f"the curl there (values below {FLOOR:g} drawn at {FLOOR:g})")

    def _clicked(self, ev) -> None:
        k = self._nearest(ev.scenePos())
        if k is None or self.result is None or self.result.get("curl") is None:
            return
        self.t_slider.setValue(k)
        if not self.panel.busy:
            self.compute(curl_only=True)

"""The measurement of a point (vector data): where y says the point can be.

2-D data: the prior's density, the true point (click to move it) and the set {x : A x = y}: a
line for one measurement (an observed coordinate, a projection row), a point for two, with the
+-2 sigma_y band dashed. More dimensions: the coordinates of the truth beside those of A^+ y.
"""
from __future__ import annotations

import types

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt

from ..backdrop import make_backdrop
from ..views.branch import DENSITY_CMAP
from ..colors import current


class PointsMeasurementView(pg.PlotWidget):
    def __init__(self, model, parent=None):
        super().__init__(parent, background=current().plot)
        self.model = model
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMinimumSize(160, 160)
        self.density = pg.ImageItem(axisOrder="row-major")
        self.density.setZValue(-10)
        self.addItem(self.density)
        self.band = pg.PlotCurveItem(pen=pg.mkPen(255, 170, 120, 150, width=1, style=Qt.DashLine),
                                     connect="pairs")
        self.line = pg.PlotCurveItem(pen=pg.mkPen(255, 170, 120, 230, width=2), connect="pairs")
        self.y_point = pg.ScatterPlotItem(size=11, pen=pg.mkPen(255, 170, 120), brush=None)
        self.truth = pg.ScatterPlotItem(size=14, symbol="star", pen=pg.mkPen("w"),
                                        brush=pg.mkBrush(255, 255, 255, 200))
        self.coords_truth = pg.PlotDataItem(pen=pg.mkPen(255, 255, 255, 160), symbol="o",
                                            symbolSize=6, symbolBrush="w", name="truth x")
        self.coords_y = pg.PlotDataItem(pen=None, symbol="s", symbolSize=7,
                                        symbolBrush=(255, 170, 120), name="A⁺ y")
        for item in (self.band, self.line, self.y_point, self.truth, self.coords_truth,
                     self.coords_y):
            self.addItem(item)
        self._key = None
        self.extent = (-3.0, 3.0, -3.0, 3.0)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setToolTip("The prior's density, the true point (★, click to move it) and the points "
                        "that agree with the measurement y (line, dashed: ±2σ_y)")

    # -- the prior ---------------------------------------------------------------------------------
    def _update_backdrop(self) -> None:
        m = self.model
        key = (m.prior.key, m.data is not None)
        if key == self._key:
            return
        self._key = key
        self.density.clear()
        if len(m.prior.data_shape) != 1 or m.prior.data_shape[0] != 2:
            return
        try:
            if m.data is not None:
                source = types.SimpleNamespace(data_shape=(2,), points=m.data)
            else:
                from ...core.pipeline import Node, build_plugin
                source = build_plugin(Node("prior", "network", m.prior.network["kind"],
                                           m.prior.network["params"]), "prior")
            bd = make_backdrop(source)
        except Exception:  # noqa: BLE001 - the backdrop is decoration
            return
        self.extent = bd.extent
        if bd.density is not None:
            x0, x1, y0, y1 = bd.extent
            self.density.setImage(bd.density, levels=(0.0, 1.0))
            self.density.setLookupTable(DENSITY_CMAP.getLookupTable(nPts=256))
            self.density.setRect(x0, y0, x1 - x0, y1 - y0)

    # -- the measurement ---------------------------------------------------------------------------
    def refresh(self) -> None:
        m = self.model
        self._update_backdrop()
        x = np.asarray(m.problem.truth, dtype=np.float64).reshape(-1)
        two_d = x.size == 2
        for item in (self.band, self.line, self.y_point, self.truth):
            item.setVisible(two_d)
        for item in (self.coords_truth, self.coords_y):
            item.setVisible(not two_d)
        self.setAspectLocked(two_d)
        op, y = m.operator(), m.y()
        if not two_d:
            self.setLabel("bottom", "coordinate")
            self.setLabel("left", "value")
            idx = np.arange(x.size)
            self.coords_truth.setData(idx, x)
            back = m.y_display()
            self.coords_y.setData(idx, back.reshape(-1) if back is not None else [])
            self.enableAutoRange()
            return
        self.setLabel("bottom", "x₀")
        self.setLabel("left", "x₁")
        self.truth.setData([x[0]], [x[1]])
        lines, band, pts = [], [], []
        if op is not None and y is not None:
            a = op.dense().numpy()                         # [M, 2] (zero rows: unobserved)
            yv = op.measured(torch.as_tensor(y)[None])[0].numpy().reshape(-1)
            rows = [(a[i], yv[i]) for i in range(len(a)) if np.linalg.norm(a[i]) > 0]
            if len(rows) == 1:
                (ai, yi), = rows
                n2 = float(ai @ ai)
                for off, out in ((0.0, lines), (2 * m.problem.sigma_y, band),
                                 (-2 * m.problem.sigma_y, band)):
                    if out is band and m.problem.sigma_y <= 0:
                        continue
                    out += self._line(ai, yi + off, n2)        # |a.x - y| <= 2 sigma_y
            elif rows:
                pts.append(m.y_display().reshape(-1))
        self.line.setData(*_xy(lines))
        self.band.setData(*_xy(band))
        self.y_point.setData(*_xy(pts))
        x0, x1, y0, y1 = self.extent
        self.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def _line(self, a: np.ndarray, b: float, n2: float) -> list:
        """Two far points of {x : a.x = b}."""
        base = a * b / n2
        d = np.array([-a[1], a[0]]) / np.sqrt(n2)
        span = 4 * max(abs(v) for v in self.extent) + 1.0
        return [base - span * d, base + span * d]

    def _clicked(self, event) -> None:
        if event.button() != Qt.LeftButton or self.model.problem.truth.size != 2:
            return
        vb = self.getPlotItem().vb
        pos = vb.mapSceneToView(event.scenePos())
        self.model.set_truth_point([pos.x(), pos.y()])


def _xy(points: list) -> tuple:
    if not points:
        return [], []
    a = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return a[:, 0], a[:, 1]

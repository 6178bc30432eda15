"""A heatmap of values on a 2-D grid (:class:`studio.core.diagnostics.Grid2D`) with a colour bar,
optional particles and arrows on top, and a readout of the value under the cursor."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..views.items import ArrowField, ParticleItem
from ..colors import current

BACKGROUND = "#101418"
TEXT = "#c8d0d8"
MUTED = "#8a949e"


def style_axes(plot) -> None:
    for name in ("left", "bottom"):
        ax = plot.getAxis(name)
        ax.setPen(pg.mkPen("#4a545e"))
        ax.setTextPen(pg.mkPen(current().axis))


class Heatmap(QWidget):
    """Title, plot (image + colour bar + overlays), readout line."""

    def __init__(self, title: str = "", cmap: str = "viridis", unit: str = "", parent=None):
        super().__init__(parent)
        self.unit = unit
        self.grid = None
        self.title = QLabel(title)
        self.title.setTextFormat(Qt.RichText)
        self.title.setStyleSheet("padding: 2px 4px;")
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(current().plot)
        self.plot = self.canvas.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)
        style_axes(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.cmap = pg.colormap.get(cmap)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=self.cmap, interactive=False, width=12)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.bar.getAxis("right").setTextPen(pg.mkPen(current().axis))
        self.arrows = ArrowField((235, 240, 245, 150))
        self.particles = ParticleItem((240, 70, 180, 220), 3.0)
        self.plot.addItem(self.arrows)
        self.plot.addItem(self.particles)
        self.message = pg.TextItem("", color=MUTED, anchor=(0.5, 0.5))
        self.plot.addItem(self.message)
        self.readout = QLabel("")
        self.readout.setStyleSheet(f"color: {MUTED}; padding: 0 4px;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(self.title)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.readout)
        self.canvas.scene().sigMouseMoved.connect(self._hover)

    def set_title(self, html: str) -> None:
        self.title.setText(html)

    def set_grid(self, grid, levels=None) -> None:
        """Show ``grid.values`` (NaN / -inf drawn as the lowest colour)."""
        self.grid = grid
        self.message.setText("")
        v = np.asarray(grid.values, dtype=np.float64)
        finite = v[np.isfinite(v)]
        if levels is None:
            levels = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        lo, hi = levels
        if not hi > lo:
            hi = lo + 1e-12 if lo == 0 else lo + abs(lo) * 1e-6
        shown = np.where(np.isfinite(v), np.clip(v, lo, hi), lo)
        self.image.setImage(shown, levels=(lo, hi))
        xs, ys = grid.xs, grid.ys
        dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
        dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
        self.image.setRect(xs[0] - dx / 2, ys[0] - dy / 2, xs[-1] - xs[0] + dx, ys[-1] - ys[0] + dy)
        self.bar.setLevels((lo, hi))
        self.plot.setRange(xRange=(xs[0], xs[-1]), yRange=(ys[0], ys[-1]), padding=0.02)

    def clear(self, message: str = "") -> None:
        self.grid = None
        self.image.clear()
        self.particles.setData(np.zeros((0, 2)))
        self.arrows.setData([], [])
        self.message.setText(message)
        self.message.setPos(0, 0)
        self.plot.setRange(xRange=(-1, 1), yRange=(-1, 1))
        self.readout.setText("")

    def set_particles(self, xy) -> None:
        self.particles.setData(np.zeros((0, 2)) if xy is None else np.asarray(xy)[:, :2])

    def set_arrows(self, field, sign: float = -1.0) -> None:
        """``field``: a Grid2D with extra['u'], extra['v'] (None: no arrows). The PF-ODE velocity
        points towards noise (increasing t); arrows show ``sign`` times it, by default the way
        particles move while sampling (time runs from noise to data)."""
        if field is None:
            self.arrows.setData([], [])
            return
        pts = field.points()
        vec = sign * np.stack([field.extra["u"].ravel(), field.extra["v"].ravel()], 1)
        spacing = (field.xs[-1] - field.xs[0]) / max(len(field.xs) - 1, 1)
        self.arrows.set_field(pts, vec, spacing)

    def value_at(self, x: float, y: float):
        g = self.grid
        if g is None:
            return None
        ix = int(round((x - g.xs[0]) / ((g.xs[-1] - g.xs[0]) / max(len(g.xs) - 1, 1))))
        iy = int(round((y - g.ys[0]) / ((g.ys[-1] - g.ys[0]) / max(len(g.ys) - 1, 1))))
        if 0 <= ix < len(g.xs) and 0 <= iy < len(g.ys):
            return float(g.values[iy, ix])
        return None

    def _hover(self, scene_pos) -> None:
        if self.grid is None or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return
        p = self.plot.vb.mapSceneToView(scene_pos)
        v = self.value_at(p.x(), p.y())
        if v is None:
            self.readout.setText("")
            return
        val = "−∞" if v == -math.inf else f"{v:.5g}"
        self.readout.setText(f"({p.x():.3g}, {p.y():.3g}): {val}{(' ' + self.unit) if self.unit else ''}")

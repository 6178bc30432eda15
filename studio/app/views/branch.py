"""One solver branch's live view: a header of per-step readouts over a point or image view."""
from __future__ import annotations

import html
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..backdrop import Backdrop, velocity_field
from ..colors import Colors, Themed, current, style_plot_widget
from ..runstate import Frame
from .items import ArrowField, ParticleItem, mosaic

#: the dark theme's plot background and density colours (the views take the current theme's)
BACKGROUND = "#101418"
DENSITY_CMAP = pg.ColorMap([0.0, 0.35, 0.7, 1.0],
                           [(16, 20, 24), (28, 58, 96), (44, 128, 150), (170, 235, 210)])


def density_lut(c: Colors):
    """The lookup table of the data density behind the particles, in the theme's colours."""
    return pg.ColorMap([0.0, 0.35, 0.7, 1.0], list(c.density)).getLookupTable(nPts=256)


TRAILS = 64
_NO_POINTS = np.zeros((0, 2), np.float32)
#: at most this many points per trail (long runs are subsampled)
TRAIL_POINTS = 120


def readout_line(f: Frame | None) -> str:
    """The step's t, sigma, log-SNR, NFE and step time (plain text)."""
    if f is None:
        return "waiting for the first step…"
    ms = f"{f.step_seconds * 1e3:.1f} ms/step" if f.step_seconds else ""
    parts = [f.label, f"t {f.t:.4g}", f"σ {f.sigma:.4g}", f"log-SNR {f.logsnr:+.2f}",
             f"NFE {f.nfe}", ms]
    return " · ".join(p for p in parts if p)


def readout(title: str, f: Frame | None) -> str:
    """Two lines of rich text: the branch, then :func:`readout_line`."""
    c = current()
    return (f"<b>{html.escape(title)}</b><br><span style='color:{c.muted if f is None else c.text}'>"
            f"{html.escape(readout_line(f))}</span>")


class TimedPlot(pg.PlotWidget):
    """A PlotWidget that remembers how long its last repaint took (for pacing live updates)."""

    paint_ms = 0.0
    paint_cpu_ms = 0.0      # the UI thread's CPU time in the last repaint (for benchmarks)

    def paintEvent(self, event):
        t, c = time.perf_counter(), time.thread_time()
        super().paintEvent(event)
        self.paint_ms = (time.perf_counter() - t) * 1e3
        self.paint_cpu_ms = (time.thread_time() - c) * 1e3


class BranchView(QWidget, Themed):
    """Base: a header label and :meth:`show_frame`; its colours follow the theme."""

    def __init__(self, branch: str, title: str, backdrop: Backdrop, parent=None):
        super().__init__(parent)
        self.branch, self.title, self.backdrop = branch, title, backdrop
        self.header = QLabel()
        self.header.setTextFormat(Qt.RichText)
        self.header.setObjectName("branchHeader")
        self.header.setStyleSheet("padding: 3px 6px;")
        # long lines are elided to the view's width (the tooltip has them whole) rather than
        # widening the window
        self.header.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.header.setMinimumWidth(40)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        self.frame: Frame | None = None
        self._line, self._muted = "", True
        self.set_header("", True)

    def show_frame(self, frame: Frame | None, trail: list[Frame] | None = None) -> None:
        self.frame = frame
        self.set_header(readout_line(frame), frame is None)

    def set_header(self, line: str, muted: bool = False) -> None:
        """The header: the branch's title over ``line`` (muted: a hint), each elided to fit."""
        self._line, self._muted = line, muted
        self._render_header()

    def _render_header(self) -> None:
        c = current()
        room = max(30, self.width() - 14)
        bold = QFont(self.header.font())
        bold.setBold(True)
        title = QFontMetrics(bold).elidedText(self.title, Qt.ElideRight, room)
        line = self.header.fontMetrics().elidedText(self._line, Qt.ElideRight, room)
        self.header.setText(f"<b>{html.escape(title)}</b><br><span style='color:"
                            f"{c.muted if self._muted else c.text}'>{html.escape(line) or '&nbsp;'}"
                            "</span>")
        self.header.setToolTip(f"{self.title}\n{self._line}".strip())

    def resizeEvent(self, event) -> None:   # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._render_header()

    def paint_ms(self) -> float:
        return 0.0

    def apply_colors(self, c: Colors) -> None:
        self._render_header()               # the header's colours


class PointsView(BranchView):
    """2-D data (or the PCA projection of D > 2): density, particles, trails, x0, velocity."""

    def __init__(self, branch, title, backdrop: Backdrop, parent=None):
        super().__init__(branch, title, backdrop, parent)
        self.plot = TimedPlot(background=current().plot)
        self.plot.setAspectLocked(True)
        # no grid: replaying grid lines over the whole plot at every frame costs more than the
        # 10,000 particles themselves
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.layout().addWidget(self.plot, 1)
        self.density = pg.ImageItem(axisOrder="row-major")
        self.density.setZValue(-10)
        self.plot.addItem(self.density)
        self.trails = pg.PlotCurveItem(connect="finite")
        self.x0_layer = ParticleItem(current().x0, 3.0)
        self.particles = ParticleItem(current().particles, 4.0)
        self.arrows = ArrowField()
        for item in (self.trails, self.arrows, self.x0_layer, self.particles):
            self.plot.addItem(item)
        self.show_trails = True
        self.show_x0 = False
        self.show_velocity = False
        self.follow = True
        self.apply_colors(current())
        self.configure(branch, title, backdrop)

    def apply_colors(self, c: Colors) -> None:
        """Plot, density, particles and trails in the theme's colours."""
        style_plot_widget(self.plot, c)
        self.density.setLookupTable(density_lut(c))
        self.particles.set_color(c.particles)
        self.x0_layer.set_color(c.x0)
        self.trails.setPen(pg.mkPen(*c.trails, width=1))
        super().apply_colors(c)

    def configure(self, branch: str, title: str, backdrop: Backdrop) -> None:
        """Show another branch (the panel reuses its views from run to run: making a plot costs
        the UI thread tens of milliseconds, setting its data almost nothing)."""
        self.branch, self.title, self.backdrop = branch, title, backdrop
        self.set_header("", True)
        if backdrop.mode == "pca":
            ex = backdrop.explained
            lab = (lambda i: f"PC{i + 1} ({100 * ex[i]:.0f}% var)") if ex else (lambda i: f"x{i}")
            self.plot.setLabel("bottom", lab(0))
            self.plot.setLabel("left", lab(1))
        else:
            for side in ("bottom", "left"):
                self.plot.getAxis(side).showLabel(False)
        if backdrop.density is not None:
            self.density.setImage(backdrop.density, levels=(0.0, 1.0))
            x0, x1, y0, y1 = backdrop.extent
            self.density.setRect(x0, y0, x1 - x0, y1 - y0)
            self.density.show()
        else:
            self.density.hide()
        self.process = self.network = None
        self._field_key = None
        self.frame = None
        for item in (self.particles, self.x0_layer):
            item.set_points(_NO_POINTS, None)
        self.trails.setData([], [])
        self.arrows.setData([], [])
        self.reset_range()

    def reset_range(self) -> None:
        self._half = None
        x0, x1, y0, y1 = self.backdrop.extent
        self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def paint_ms(self) -> float:
        return self.plot.paint_ms

    def set_model(self, network, process) -> None:
        """What the velocity field is computed from (2-D data only)."""
        self.network, self.process = network, process

    def show_frame(self, frame, trail=None) -> None:
        super().show_frame(frame, trail)
        if frame is None:
            for item in (self.particles, self.x0_layer):
                item.set_points(_NO_POINTS, None)
            self.trails.setData([], [])
            self.arrows.setData([], [])
            return
        self.particles.set_points(frame.xy, frame.box)
        # a layer with nothing to draw is hidden: its paint is not even called
        x0 = self.show_x0 and frame.x0_xy is not None
        self.x0_layer.set_points(frame.x0_xy if x0 else _NO_POINTS, frame.x0_box if x0 else None)
        self.x0_layer.setVisible(x0)
        if self.show_trails and trail:
            k = min(TRAILS, len(frame.xy))
            if len(trail) > TRAIL_POINTS:      # long runs: every n-th step, always the last
                idx = np.unique(np.linspace(0, len(trail) - 1, TRAIL_POINTS).round().astype(int))
                trail = [trail[i] for i in idx]
            stack = np.stack([f.xy[:k] for f in trail if len(f.xy) >= k], 1)   # [k, steps, 2]
            stack = np.concatenate([stack, np.full((k, 1, 2), np.nan, np.float32)], 1).reshape(-1, 2)
            self.trails.setData(stack[:, 0], stack[:, 1])
        else:
            self.trails.setData([], [])
        self._update_field(frame)
        # (the zoom is the panel's: one for all the linked views, see TrajectoryPanel._follow)

    def _update_field(self, frame: Frame) -> None:
        usable = (self.show_velocity and self.network is not None and self.backdrop.mode == "2d"
                  and not frame.final)
        self.arrows.setVisible(usable)
        if not usable:
            if self._field_key is not None:
                self.arrows.setData([], [])
                self._field_key = None
            return
        vb = self.plot.getViewBox().viewRange()
        extent = (vb[0][0], vb[0][1], vb[1][0], vb[1][1])
        key = (frame.t, tuple(np.round(extent, 6)))
        if key == self._field_key:
            return
        self._field_key = key
        try:
            pts, vec = velocity_field(self.network, self.process, frame.t, extent)
        except Exception:  # noqa: BLE001 - the field is an overlay; never break the view for it
            self.arrows.setData([], [])
            return
        self.arrows.set_field(pts, vec, (extent[1] - extent[0]) / 21)

    def follow_to(self, spread: tuple | None, settle: bool = False) -> None:
        """Zoom to the particles (``spread``: the 1st to 99th percentiles of every particle, from
        the frames shown) and the data. The half-width snaps to a ladder of factors 1.25, so the axes
        (costly to redraw) change a few dozen times in a run, not at every frame; with ``settle``
        (live updates) it zooms out at once but in only two rungs at a time, halving the changes
        while the particles contract (each one redraws every linked plot)."""
        x0, x1, y0, y1 = self.backdrop.extent
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        base = max(x1 - x0, y1 - y0) / 2
        half = base
        if spread is not None:
            lx, ly, hx, hy = spread
            half = max(base, abs(lx - cx), abs(hx - cx), abs(ly - cy), abs(hy - cy))
        k = int(np.ceil(np.log(half / base) / np.log(1.25) - 1e-9)) if half > base else 0
        now = (int(round(np.log(self._half / base) / np.log(1.25)))
               if settle and self._half else None)
        if now is not None and now - 2 < k < now:
            return                      # one rung tighter only: wait for the next
        half = base * 1.25 ** k
        if half != self._half:
            self._half = half
            self.plot.setRange(xRange=(cx - half, cx + half), yRange=(cy - half, cy + half),
                               padding=0.02)


class ImagesView(BranchView):
    """Image data: a grid of x_t next to a grid of the x0-prediction."""

    def __init__(self, branch, title, backdrop: Backdrop, parent=None):
        super().__init__(branch, title, backdrop, parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(current().plot)
        self.layout().addWidget(self.canvas, 1)
        self.boxes = {}
        self.images = {}
        for col, name in enumerate(("x_t", "x0-prediction")):
            self.canvas.addLabel(name, row=0, col=col, color=current().text)
            vb = self.canvas.addViewBox(row=1, col=col, lockAspect=True, invertY=True,
                                        enableMouse=False)
            img = pg.ImageItem(axisOrder="row-major")
            vb.addItem(img)
            self.boxes[name], self.images[name] = vb, img

    def show_frame(self, frame, trail=None) -> None:
        super().show_frame(frame, trail)
        for name, arr in (("x_t", None if frame is None else frame.images),
                          ("x0-prediction", None if frame is None else
                           (frame.images if frame.final else frame.x0_images))):
            img = self.images[name]
            if arr is None or not len(arr):
                img.clear()
                continue
            lo, hi = self.backdrop.value_range or _auto_range(arr)
            img.setImage(mosaic(arr, lo, hi), levels=(0, 255))
            self.boxes[name].autoRange(padding=0.01)

    def pixels(self, name: str = "x_t") -> np.ndarray | None:
        return self.images[name].image


def _auto_range(arr: np.ndarray) -> tuple[float, float]:
    finite = arr[np.isfinite(arr)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(np.percentile(finite, 1)), float(np.percentile(finite, 99))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)

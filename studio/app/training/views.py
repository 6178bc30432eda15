"""The live views of a training: the loss curve and the sample previews (pyqtgraph).

Both draw from a :class:`~.session.Snapshot` and redraw only what changed: the loss curve when
new points came, the preview when a new one did.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from ..views.items import mosaic
from .session import Snapshot
from ..colors import current

#: one colour per class (tab10), and the colour of unconditional samples
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (160, 160, 160), (188, 189, 34), (23, 190, 207)]
SAMPLE_COLOR = (110, 200, 240)
REFERENCE_COLOR = (120, 128, 136, 70)
LOSS_COLOR = (110, 200, 240)
SMOOTH_COLOR = (240, 180, 80)


def smooth(y: np.ndarray, frac: float = 0.08) -> np.ndarray:
    """A centred moving average over ``frac`` of the points (edges: shorter windows)."""
    n = len(y)
    k = int(max(1, round(frac * n))) | 1
    if n < 5 or k < 3:
        return y
    c = np.concatenate([[0.0], np.cumsum(y)])
    half = k // 2
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    return (c[hi] - c[lo]) / (hi - lo)


class _Header(QLabel):
    """A rich-text header over a plot, wrapped on two lines (the same height over both plots, so
    that they line up); the whole text is its tooltip."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        super().setText(text)
        doc = QTextDocument()
        doc.setHtml(text)
        self.setToolTip(doc.toPlainText())


def _title(text: str) -> QLabel:
    label = _Header(text)
    label.setTextFormat(Qt.RichText)
    label.setStyleSheet("padding: 3px 6px;")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
    label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
    label.setFixedHeight(2 * label.fontMetrics().lineSpacing() + 8)
    return label


class LossPlot(QWidget):
    """The training loss against the step (log scale), raw and smoothed."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.header = _title("<b>Loss</b>")
        self.plot = pg.PlotWidget(background=current().plot)
        self.plot.setLogMode(x=False, y=True)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "step")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().setMenuEnabled(False)
        self.curve = self.plot.plot(pen=pg.mkPen(LOSS_COLOR, width=1), name="loss")
        self.trend = self.plot.plot(pen=pg.mkPen(SMOOTH_COLOR, width=2), name="smoothed")
        self.points = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.plot, 1)

    def show_snapshot(self, s: Snapshot) -> None:
        n = len(s.losses)
        if n == self.points and n:
            return
        self.points = n
        ok = np.isfinite(s.losses) & (s.losses > 0)
        x, y = s.loss_steps[ok], s.losses[ok]
        self.curve.setData(x, y)
        self.trend.setData(x, smooth(y) if len(y) >= 5 else np.zeros(0))
        if n:
            self.plot.setXRange(0, max(s.steps, 1), padding=0.02)
            self.header.setText(f"<b>Loss</b> &nbsp;<span>{s.last_loss:.4g} "
                                f"at step {int(s.loss_steps[-1])}</span>")
        else:
            self.header.setText("<b>Loss</b> &nbsp;<span style='color:#8a949e'>"
                                "waiting for the first steps…</span>")

    def clear(self) -> None:
        self.points = -1
        self.curve.setData([], [])
        self.trend.setData([], [])


class SamplePreview(QWidget):
    """Samples of the model as it trains: points over the training data, or an image grid (one
    column per class for class-conditional image models)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.header = _title("<b>Samples</b>")
        self.stack = QStackedWidget()
        self.points = pg.PlotWidget(background=current().plot)
        self.points.setAspectLocked(True)
        self.points.hideButtons()
        self.points.getPlotItem().setMenuEnabled(False)
        self.points.showGrid(x=True, y=True, alpha=0.1)
        self.reference = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(*REFERENCE_COLOR))
        self.samples = pg.ScatterPlotItem(size=3, pen=None)
        self.points.addItem(self.reference)
        self.points.addItem(self.samples)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(current().plot)
        self.box = self.canvas.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.stack.addWidget(self.points)
        self.stack.addWidget(self.canvas)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.stack, 1)
        self._key = None
        self._ref_key = None

    @property
    def mode(self) -> str:
        return "image" if self.stack.currentWidget() is self.canvas else "points"

    def show_snapshot(self, s: Snapshot) -> None:
        image = s.data_kind == "image"
        self.stack.setCurrentWidget(self.canvas if image else self.points)
        if not image and self._ref_key != id(s.reference):
            self._ref_key = id(s.reference)
            ref = s.reference if s.reference is not None else np.zeros((0, 2), np.float32)
            self.reference.setData(pos=ref)
            if len(ref):
                self.points.autoRange(padding=0.08)
        p = s.preview
        key = ("none", s.is_classifier) if p is None else (id(p), p.step)
        if key == self._key:
            return
        self._key = key
        if p is None:
            self.samples.setData(pos=np.zeros((0, 2)))
            self.image.clear()
            note = ("training data in grey; " if not image and s.reference is not None else "")
            later = ("a classifier makes no samples: its accuracy at each noise level goes into "
                     "its model card when it is saved" if s.is_classifier else
                     "the first preview comes after “every” steps")
            self.header.setText(f"<b>Samples</b> &nbsp;<span style='color:#8a949e'>{note}"
                                f"{later}</span>")
            return
        per_class = " (one column per class)" if image and 2 <= s.num_classes <= 16 else ""
        self.header.setText(f"<b>Samples</b> &nbsp;<span>{len(p.samples)} "
                            f"at step {p.step}{per_class}, {p.seconds:.2f} s to sample</span>")
        if image:
            self._show_images(p, s)
        else:
            self._show_points(p)

    def _show_points(self, p) -> None:
        pts = np.asarray(p.samples, dtype=np.float64).reshape(len(p.samples), -1)[:, :2]
        pts = np.where(np.isfinite(pts), pts, 0.0)
        if p.labels is not None:
            brushes = [pg.mkBrush(*PALETTE[k % len(PALETTE)], 200) for k in range(len(PALETTE))]
            self.samples.setData(pos=pts, brush=[brushes[int(k) % len(brushes)] for k in p.labels])
        else:
            self.samples.setData(pos=pts, brush=pg.mkBrush(*SAMPLE_COLOR, 200))

    def _show_images(self, p, s: Snapshot) -> None:
        lo, hi = s.data_range or (0.0, 1.0)
        nc = s.num_classes
        cols = nc if 2 <= nc <= 16 else None
        self.image.setImage(mosaic(p.samples, lo, hi, cols), levels=(0, 255))
        self.box.autoRange(padding=0.01)

    def pixels(self) -> np.ndarray | None:
        return self.image.image

    def clear(self) -> None:
        self._key = self._ref_key = None
        self.samples.setData(pos=np.zeros((0, 2)))
        self.reference.setData(pos=np.zeros((0, 2)))
        self.image.clear()

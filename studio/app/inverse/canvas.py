"""Enlarged image views: :class:`ImageTile` shows one data item (unobserved pixels hatched), and
:class:`MaskCanvas` paints the inpainting mask on the ground truth with a round brush.

Left-drag hides pixels (they become the region to inpaint), right-drag or the erase mode shows
them again; strokes are sampled finely between mouse events so fast moves leave no gaps. The mask
lives in the :class:`~.model.InverseModel`; the canvas only draws it and sends brush strokes.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

HIDDEN_FILL = QColor(214, 96, 56, 120)
HIDDEN_HATCH = QColor(255, 170, 120, 150)
GRID = QColor(255, 255, 255, 28)


def to_rgb8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """[H, W] or [C, H, W] (C = 1 or 3) -> uint8 [H, W, 3]."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)
    v = np.clip((a - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    v = np.nan_to_num(v) * 255.0
    if v.ndim == 2:
        v = np.repeat(v[..., None], 3, axis=-1)
    return np.ascontiguousarray(v.astype(np.uint8))


class ImageTile(QWidget):
    """One image, nearest-neighbour enlarged to fill the widget (aspect kept)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rgb: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._hidden: np.ndarray | None = None
        self.placeholder = ""
        self.setMinimumSize(40, 40)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(200, 200)

    def set_image(self, arr: np.ndarray | None, value_range=None, hidden: np.ndarray | None = None):
        """``hidden``: [H, W] booleans drawn hatched (unobserved pixels)."""
        if arr is None:
            self._rgb = self._qimage = None
        else:
            lo, hi = value_range or _auto(arr)
            self._rgb = to_rgb8(arr, lo, hi)
            h, w = self._rgb.shape[:2]
            self._qimage = QImage(self._rgb.data, w, h, 3 * w, QImage.Format_RGB888)
        self._hidden = None if hidden is None else np.asarray(hidden, dtype=bool)
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn (widget coordinates)."""
        if self._rgb is None:
            return QRectF()
        h, w = self._rgb.shape[:2]
        cell = min((self.width() - 2) / w, (self.height() - 2) / h)
        cell = max(cell, 1.0)
        rw, rh = cell * w, cell * h
        return QRectF((self.width() - rw) / 2, (self.height() - rh) / 2, rw, rh)

    def cell(self) -> float:
        r = self.image_rect()
        return r.width() / self._rgb.shape[1] if self._rgb is not None else 1.0

    def to_pixel(self, pos: QPointF) -> tuple[float, float]:
        """Widget position -> (row, col) in pixel units."""
        r, c = self.image_rect(), self.cell()
        return (pos.y() - r.top()) / c, (pos.x() - r.left()) / c

    def from_pixel(self, row: float, col: float) -> QPointF:
        r, c = self.image_rect(), self.cell()
        return QPointF(r.left() + col * c, r.top() + row * c)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(16, 20, 24))
        if self._qimage is None:
            p.setPen(QColor(138, 148, 158))
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        rect = self.image_rect()
        p.setRenderHint(QPainter.SmoothPixmapTransform, False)
        p.drawImage(rect, self._qimage)
        h, w = self._rgb.shape[:2]
        c = self.cell()
        if self._hidden is not None and self._hidden.shape == (h, w):
            p.setPen(Qt.NoPen)
            hatch = QBrush(HIDDEN_HATCH, Qt.BDiagPattern)
            for i, j in zip(*np.nonzero(self._hidden)):
                cellr = QRectF(rect.left() + j * c, rect.top() + i * c, c, c)
                p.fillRect(cellr, HIDDEN_FILL)
                p.fillRect(cellr, hatch)
        if c >= 8:                       # pixel grid where pixels are large enough to aim at
            p.setPen(QPen(GRID, 1))
            for j in range(1, w):
                x = rect.left() + j * c
                p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            for i in range(1, h):
                y = rect.top() + i * c
                p.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        self.paint_overlay(p)
        p.end()

    def paint_overlay(self, p: QPainter) -> None:
        pass


class MaskCanvas(ImageTile):
    """The ground truth with the mask; paint to hide pixels, erase (or right-drag) to show them."""

    strokeDone = Signal()

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        self.brush = 1.0            # diameter in pixels
        self.erase = False
        self.enabled_paint = True
        self._last: tuple[float, float] | None = None
        self._stroke_observed = False
        self._hover: QPointF | None = None
        self.setMouseTracking(True)
        self.setCursor(Qt.CrossCursor)
        self.setToolTip("Paint the region to inpaint: drag to hide pixels, right-drag (or Erase) "
                        "to show them again")

    def refresh(self) -> None:
        m = self.model
        mask = m.mask if m.problem.operator == "inpaint" else None
        hidden = None if mask is None or mask.ndim != 2 else mask < 0.5
        self.enabled_paint = hidden is not None
        self.set_image(m.problem.truth, m.prior.value_range, hidden)

    # -- painting ---------------------------------------------------------------------------------
    def _stroke_to(self, pos: QPointF) -> None:
        r, c = self.to_pixel(pos)
        pts = [(r, c)]
        if self._last is not None:
            r0, c0 = self._last
            n = int(np.ceil(np.hypot(r - r0, c - c0) / 0.25))
            pts = [(r0 + (r - r0) * k / n, c0 + (c - c0) * k / n) for k in range(1, n + 1)] or pts
        self._last = (r, c)
        self.model.paint(pts, self.brush, self._stroke_observed)

    def mousePressEvent(self, event) -> None:
        if not self.enabled_paint or event.button() not in (Qt.LeftButton, Qt.RightButton):
            return super().mousePressEvent(event)
        self._stroke_observed = self.erase or event.button() == Qt.RightButton
        self._last = None
        self._stroke_to(event.position())
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        self._hover = event.position()
        if self._last is not None and event.buttons() & (Qt.LeftButton | Qt.RightButton):
            self._stroke_to(event.position())
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._last is not None:
            self._stroke_to(event.position())
            self._last = None
            self.strokeDone.emit()
        event.accept()

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def paint_overlay(self, p: QPainter) -> None:
        if self._hover is None or not self.enabled_paint:
            return
        rad = max(self.brush, 1.0) / 2 * self.cell()
        p.setRenderHint(QPainter.Antialiasing, True)
        p.setBrush(Qt.NoBrush)
        p.setPen(QPen(QColor(120, 220, 255) if self.erase else QColor(255, 170, 120), 1.5))
        p.drawEllipse(self._hover, rad, rad)


def _auto(arr: np.ndarray) -> tuple[float, float]:
    a = np.asarray(arr, dtype=np.float64)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


class TilePair(QWidget):
    """Two captioned square tiles, side by side or stacked, whichever makes them larger."""

    CAPTION = 18
    GAP = 8

    def __init__(self, first: tuple, second: tuple, parent=None):
        super().__init__(parent)
        self.items = [first, second]          # (caption label, tile)
        for cap, tile in self.items:
            cap.setParent(self)
            tile.setParent(self)
        self.setMinimumHeight(140)

    def sizeHint(self) -> QSize:
        return QSize(300, 170)

    def layout_tiles(self) -> None:
        w, h, c, g = self.width(), self.height(), self.CAPTION, self.GAP
        side = min((w - g) / 2, h - c)
        stacked = min(w, (h - 2 * c - g) / 2)
        s = int(max(side, stacked, 40))
        for k, (cap, tile) in enumerate(self.items):
            if side >= stacked:
                x, y = int((w - 2 * s - g) / 2 + k * (s + g)), 0
            else:
                x, y = int((w - s) / 2), int(k * (s + c + g))
            cap.setGeometry(x, y, max(s, 40), c)
            tile.setGeometry(x, y + c, s, s)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.layout_tiles()

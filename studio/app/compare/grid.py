"""The grid of final samples: rows solver / schedule, columns NFE budget.

Cells fill in as the comparison streams. Scatter of the samples over the grey data for low-D
data (the first two coordinates above 2-D, a histogram for 1-D), a tile of images for images.
Click selects a cell (arrow keys move the selection), double-click or Enter opens it in the
trajectory view, hovering shows the cell's numbers and the sample under the cursor.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSlider, QVBoxLayout, QWidget

from ...core.diagnostics import auto_limits
from ...render.compare_plots import row_color
from ..views.items import ParticleItem, mosaic
from .session import CompareSession
from ..colors import current

BACKGROUND = "#101418"
TEXT = "#c8d0d8"
MUTED = "#8a949e"
SELECTED = "#ffd24a"
LABEL_W, HEADER_H, TITLE_H = 34, 28, 22
MAX_POINTS = 4000
HINT = ("Click a cell to select it (arrow keys move), double-click or Enter to replay it in the "
        "trajectory view; hover for its numbers.")
MAX_DATA = 1500


def fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _rgba(color: str, alpha: int) -> tuple:
    c = pg.mkColor(color)
    return (c.red(), c.green(), c.blue(), alpha)


class CompareGrid(QWidget):
    openRequested = Signal(int)     # cell index

    def __init__(self, session: CompareSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.cell_px = 170
        self.cells: dict[int, pg.PlotItem] = {}
        self.layers: dict[int, dict] = {}
        self.mode = "2d"            # 2d, 1d, image
        self.limits = None
        self._data_shown = False
        self.setFocusPolicy(Qt.StrongFocus)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(current().plot)
        self.canvas.ci.setSpacing(6)
        self.canvas.setFocusPolicy(Qt.NoFocus)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.canvas)
        self.scroll.setWidgetResizable(False)
        self.scroll.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.scroll.setFocusPolicy(Qt.NoFocus)
        self.info = QLabel(HINT)
        self.info.setTextFormat(Qt.RichText)
        self.info.setStyleSheet(f"color: {MUTED}; padding: 2px 6px;")
        self.info.setMinimumHeight(36)
        self.info.setWordWrap(True)
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(100, 360)
        self.size_slider.setValue(self.cell_px)
        self.size_slider.setMaximumWidth(140)
        self.size_slider.setToolTip("Cell size")
        self.size_slider.valueChanged.connect(self._resize_cells)
        top = QHBoxLayout()
        top.setContentsMargins(6, 0, 6, 0)
        top.addWidget(self.info, 1)
        top.addWidget(QLabel("size"))
        top.addWidget(self.size_slider)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.scroll, 1)

        scene = self.canvas.scene()
        scene.sigMouseClicked.connect(self._clicked)
        scene.sigMouseMoved.connect(self._hover)
        session.reset.connect(self.rebuild)
        session.cellsAdded.connect(self.update_cells)
        session.selectionChanged.connect(self._highlight)
        self.rebuild()

    # -- layout --------------------------------------------------------------------------------
    def rebuild(self) -> None:
        self.canvas.clear()
        self.info.setText(HINT)
        self.cells, self.layers = {}, {}
        self.limits, self._data_shown = None, False
        comp = self.session.comparison
        if comp is None:
            self.canvas.setFixedSize(400, 120)
            return
        spec = comp.spec
        self.mode = self._mode(self._data_shape())
        lay = self.canvas.ci
        lay.addLabel("", row=0, col=0)
        for c, n in enumerate(spec.nfes):
            lay.addLabel(f"<b>NFE {n}</b>", row=0, col=c + 1, color=current().text, size="10pt")
        for r, label in enumerate(spec.row_labels()):
            lab = lay.addLabel(f"<b>{label}</b>", row=r + 1, col=0, angle=-90,
                               color=row_color(r), size="9pt")
            lab.setFixedWidth(LABEL_W)
            for c in range(len(spec.nfes)):
                index = r * len(spec.nfes) + c
                self.cells[index] = self._make_cell(lay, r, c, index)
        self._resize_canvas()
        self.update_cells(sorted(comp.results))
        self._highlight(self.session.selected)

    def _data_shape(self):
        """The data shape from the results or the data samples (None: not known yet; the
        network is not built here, which could load a large file in the UI thread)."""
        comp = self.session.comparison
        for r in comp.results.values():
            if r.samples is not None:
                return tuple(r.samples.shape[1:])
        if comp.data is not None:
            return tuple(comp.data.shape[1:])
        return None

    @staticmethod
    def _mode(shape) -> str:
        if shape is None:
            return "2d"
        return "image" if len(shape) >= 2 else ("1d" if int(np.prod(shape)) == 1 else "2d")

    def _make_cell(self, lay, r: int, c: int, index: int) -> pg.PlotItem:
        p = lay.addPlot(row=r + 1, col=c + 1)
        p.setMenuEnabled(False)
        p.hideButtons()
        p.setMouseEnabled(False, False)
        p.vb.setBorder(pg.mkPen("#2c343c", width=1))
        for name in ("left", "bottom"):
            ax = p.getAxis(name)
            ax.setPen(pg.mkPen("#39424b"))
            ax.setTextPen(pg.mkPen(MUTED))
        if self.mode == "image" or c > 0:
            p.hideAxis("left")
        if self.mode == "image" or r < len(self.session.spec.row_labels()) - 1:
            p.hideAxis("bottom")
        if self.mode == "image":
            p.setAspectLocked(True)
            p.invertY(True)
        elif self.mode == "2d":
            p.setAspectLocked(True)
        p.setTitle("waiting…", color=MUTED, size="8pt")
        return p

    def _resize_cells(self, px: int) -> None:
        self.cell_px = int(px)
        self._resize_canvas()

    def _resize_canvas(self) -> None:
        spec = self.session.spec
        if spec is None:
            return
        for p in self.cells.values():
            p.setFixedWidth(self.cell_px)
            p.setFixedHeight(self.cell_px + TITLE_H)
        w = LABEL_W + 24 + len(spec.nfes) * (self.cell_px + 10)
        h = HEADER_H + 20 + len(spec.row_labels()) * (self.cell_px + TITLE_H + 8)
        self.canvas.setFixedSize(w, h)

    # -- content -------------------------------------------------------------------------------
    def _ensure_limits(self) -> None:
        comp = self.session.comparison
        if self.limits is not None or self.mode != "2d":
            return
        if comp.data is not None and len(comp.data):
            pts = comp.data.reshape(len(comp.data), -1)[:, :2].numpy()
        else:
            arrs = [r.samples.reshape(len(r.samples), -1)[:, :2].numpy()
                    for r in comp.results.values() if r.samples is not None]
            if not arrs:
                return
            pts = np.concatenate(arrs)
        pts = pts[np.isfinite(pts).all(1)]
        if not len(pts):
            return
        self.limits = auto_limits(pts, margin=0.08)
        for p in self.cells.values():
            p.setXRange(*self.limits[0], padding=0)
            p.setYRange(*self.limits[1], padding=0)

    def _show_data(self) -> None:
        comp = self.session.comparison
        if self._data_shown or self.mode != "2d" or comp.data is None:
            return
        self._data_shown = True
        d = comp.data.reshape(len(comp.data), -1)[:MAX_DATA, :2].numpy()
        for p in self.cells.values():
            item = ParticleItem((150, 158, 166, 90), 2.5)
            item.setZValue(-5)
            item.setData(d)
            p.addItem(item)

    def update_cells(self, indices: list) -> None:
        comp = self.session.comparison
        if comp is None:
            return
        if self._mode(self._data_shape()) != self.mode:
            return self.rebuild()        # the first results tell what the data are
        self._ensure_limits()
        self._show_data()
        metric = self.title_metric()
        for index in indices:
            p = self.cells.get(index)
            res = comp.results.get(index)
            if p is None or res is None:
                continue
            for item in self.layers.pop(index, {}).values():
                p.removeItem(item)
            r = res.cell.row
            if res.samples is None:
                msg = f"{res.status}: {res.message}"
                t = pg.TextItem(_wrap(msg, 26), color="#e0564a", anchor=(0.5, 0.5))
                p.addItem(t)
                lim = self.limits or ((-1, 1), (-1, 1))
                t.setPos(sum(lim[0]) / 2, sum(lim[1]) / 2)
                self.layers[index] = {"text": t}
                p.setTitle(res.status, color="#e0564a", size="8pt")
                continue
            title = f"NFE {res.nfe}"
            if metric and res.metrics.get(metric) is not None:
                title += f" · {metric} {fmt(res.metrics[metric])}"
            p.setTitle(title, color=current().text, size="8pt")
            x = res.samples.reshape(len(res.samples), -1).numpy()
            if self.mode == "image":
                img = pg.ImageItem(axisOrder="row-major")
                lo, hi = _image_range(comp)
                img.setImage(mosaic(res.samples.numpy()[:16], lo, hi, cols=4), levels=(0, 255))
                p.addItem(img)
                p.autoRange(padding=0.01)
                self.layers[index] = {"image": img}
            elif self.mode == "1d":
                self.layers[index] = self._histogram(p, x[:, 0], r)
            else:
                item = ParticleItem(_rgba(row_color(r), 210), 3.5)
                item.setData(x[:MAX_POINTS, :2])
                p.addItem(item)
                self.layers[index] = {"samples": item}

    def _histogram(self, p, x: np.ndarray, r: int) -> dict:
        comp = self.session.comparison
        base = comp.data.reshape(-1).numpy() if comp.data is not None else x
        lo, hi = np.percentile(base[np.isfinite(base)], [0.5, 99.5])
        bins = np.linspace(lo, hi, 60)
        out = {}
        if comp.data is not None:
            hd, _ = np.histogram(base, bins=bins, density=True)
            out["data"] = p.plot(bins, hd, stepMode="center", pen=pg.mkPen("#7d8790", width=1))
        hs, _ = np.histogram(x[np.isfinite(x)], bins=bins, density=True)
        out["samples"] = p.plot(bins, hs, stepMode="center", pen=pg.mkPen(row_color(r), width=1.5))
        return out

    def title_metric(self):
        comp = self.session.comparison
        ids = [m.id for m in comp.active_metrics() if m.plot] if comp is not None else []
        return ids[0] if ids else None

    # -- interaction ---------------------------------------------------------------------------
    def cell_at(self, scene_pos) -> int:
        for index, p in self.cells.items():
            if p.sceneBoundingRect().contains(scene_pos):
                return index
        return -1

    def cell_center(self, index: int) -> QPoint:
        """Where cell ``index`` is in the canvas viewport (for tests and automation)."""
        rect = self.cells[index].vb.sceneBoundingRect()
        return self.canvas.mapFromScene(rect.center())

    def _clicked(self, ev) -> None:
        index = self.cell_at(ev.scenePos())
        if index < 0:
            return
        self.setFocus()
        self.session.select(index)
        if ev.double():
            self.openRequested.emit(index)

    def _highlight(self, index: int) -> None:
        for i, p in self.cells.items():
            p.vb.setBorder(pg.mkPen(SELECTED, width=3) if i == index else pg.mkPen("#2c343c"))
        if index in self.cells:
            self.scroll.ensureVisible(*self._cell_xy(index), self.cell_px // 2, self.cell_px // 2)
            self._describe(index)

    def _cell_xy(self, index: int) -> tuple[int, int]:
        pt = self.cell_center(index)
        return pt.x(), pt.y()

    def _hover(self, scene_pos) -> None:
        index = self.cell_at(scene_pos)
        if index < 0:
            return
        self._describe(index, scene_pos)

    def _describe(self, index: int, scene_pos=None) -> None:
        """The hover / selection readout: the cell's numbers and the sample under the cursor."""
        comp = self.session.comparison
        if comp is None:
            return
        cell = comp.cells[index]
        res = comp.results.get(index)
        head = f"<b style='color:{row_color(cell.row)}'>{cell.key}</b>"
        if res is None:
            self.info.setText(f"{head} &nbsp; not run yet")
            return
        if not res.ok:
            self.info.setText(f"{head} &nbsp; <span style='color:#e0564a'>{res.status}: "
                              f"{_esc(res.message)}</span>")
            return
        parts = [f"NFE {res.nfe}", f"{res.steps} steps"]
        parts += [f"{k} {fmt(v)}" for k, v in res.metrics.items() if k != "nfe"]
        text = f"{head} &nbsp; " + " · ".join(parts)
        if scene_pos is not None and self.mode == "2d":
            p = self.cells[index]
            if p.vb.sceneBoundingRect().contains(scene_pos):
                v = p.vb.mapSceneToView(scene_pos)
                text += f"<br><span style='color:{MUTED}'>cursor ({v.x():.3g}, {v.y():.3g})"
                near = self._nearest(p, res, scene_pos)
                if near is not None:
                    i, xy = near
                    text += f" · sample #{i} at ({xy[0]:.4g}, {xy[1]:.4g})"
                text += "</span>"
        self.info.setText(text)

    def _nearest(self, p, res, scene_pos, radius_px: float = 8.0):
        x = res.samples.reshape(len(res.samples), -1)[:MAX_POINTS, :2].numpy()
        if not len(x):
            return None
        v = p.vb.mapSceneToView(scene_pos)
        px = p.vb.viewPixelSize()
        d = np.hypot((x[:, 0] - v.x()) / px[0], (x[:, 1] - v.y()) / px[1])
        i = int(np.argmin(d))
        return (i, x[i]) if d[i] <= radius_px else None

    def keyPressEvent(self, event) -> None:
        comp = self.session.comparison
        if comp is None or not self.cells:
            return super().keyPressEvent(event)
        ncol = len(comp.spec.nfes)
        i = max(self.session.selected, 0)
        r, c = divmod(i, ncol)
        nrow = len(self.cells) // ncol
        key = event.key()
        moves = {Qt.Key_Left: (0, -1), Qt.Key_Right: (0, 1), Qt.Key_Up: (-1, 0), Qt.Key_Down: (1, 0)}
        if key in moves:
            dr, dc = moves[key]
            r, c = min(max(r + dr, 0), nrow - 1), min(max(c + dc, 0), ncol - 1)
            self.session.select(r * ncol + c)
        elif key in (Qt.Key_Return, Qt.Key_Enter) and self.session.selected >= 0:
            self.openRequested.emit(self.session.selected)
        else:
            super().keyPressEvent(event)


def _image_range(comp) -> tuple[float, float]:
    """Black..white: [0, 1] or [-1, 1] when the samples lie there (the usual image ranges),
    else their own range."""
    vals = [r.samples for r in comp.results.values() if r.samples is not None]
    if not vals:
        return -1.0, 1.0
    lo = min(float(v.min()) for v in vals)
    hi = max(float(v.max()) for v in vals)
    if lo >= -0.05 and hi <= 1.05:
        return 0.0, 1.0
    if lo >= -1.5 and hi <= 1.5:
        return -1.0, 1.0
    return lo, hi if hi > lo else lo + 1.0


def _wrap(text: str, width: int) -> str:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "\n".join(lines[:6])


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""The jump map of a 2-D flow map: arrows from x_t to Phi(x_t, t, s) over a grid, for the current
pipeline's network (a flow-map model file, or a gaussian / gmm / empirical network, whose exact or
reference map it then shows). Sliders choose the start time t and the target time s <= t, as
fractions of the process's time range; the arrows are in the network's own units."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ..core.errors import StudioError

STEPS = 100


class JumpMapView(QWidget):
    """``set_pipeline(built)`` then the sliders; :attr:`arrows` holds the last (start, end)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        import pyqtgraph as pg
        self.setWindowTitle("Flow-map jumps")
        lay = QVBoxLayout(self)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setBackground("w")
        self.lines = self.plot.plot([], [], pen=pg.mkPen((40, 70, 140), width=1), connect="pairs")
        self.heads = pg.ScatterPlotItem(size=4, brush=pg.mkBrush(214, 39, 40), pen=None)
        self.tails = pg.ScatterPlotItem(size=3, brush=pg.mkBrush(150, 150, 150), pen=None)
        self.plot.addItem(self.tails)
        self.plot.addItem(self.heads)
        lay.addWidget(self.plot, 1)
        self.t_slider, self.t_label = self._slider(lay, "from t", STEPS)
        self.s_slider, self.s_label = self._slider(lay, "to s", 0)
        self.network = self.process = None
        self.arrows: tuple[np.ndarray, np.ndarray] | None = None

    def _slider(self, lay, name: str, value: int):
        row = QHBoxLayout()
        row.addWidget(QLabel(name))
        sl = QSlider(Qt.Horizontal)
        sl.setRange(0, STEPS)
        sl.setValue(value)
        sl.valueChanged.connect(self.refresh)
        row.addWidget(sl, 1)
        label = QLabel("")
        label.setMinimumWidth(70)
        row.addWidget(label)
        lay.addLayout(row)
        return sl, label

    def set_pipeline(self, built) -> None:
        self.network, self.process = built.network, built.process
        self.refresh()

    def times(self) -> tuple[float, float]:
        p = self.process
        lo, hi = float(p.t_min), float(p.t_max)
        t = lo + (hi - lo) * self.t_slider.value() / STEPS
        s = lo + (hi - lo) * min(self.s_slider.value(), self.t_slider.value()) / STEPS
        return t, s

    def refresh(self) -> None:
        from ..core.flowmap import jump_arrows
        if self.network is None:
            return
        t, s = self.times()
        self.t_label.setText(f"{t:.4g}")
        self.s_label.setText(f"{s:.4g}")
        try:
            start, end = jump_arrows(self.network, self.process, t, s)
        except StudioError as exc:
            self.arrows = None
            self.info.setText(f"No jump map: {exc.problem}")
            for item in (self.lines, self.heads, self.tails):
                item.setData([], [])
            return
        a, b = start.numpy(), end.numpy()
        self.arrows = (a, b)
        pairs = np.empty((2 * len(a), 2))
        pairs[0::2], pairs[1::2] = a, b
        self.lines.setData(pairs[:, 0], pairs[:, 1])
        self.tails.setData(a[:, 0], a[:, 1])
        self.heads.setData(b[:, 0], b[:, 1])
        kind = {"exact": "exact (closed form)", "reference": "reference (adaptive ODE solve)",
                "learned": "learned"}.get(self.network.flow_map_kind, "")
        self.info.setText(f"{kind} flow map of {self.network.id!r}: grey points x_t at t = {t:.4g}"
                          f", red points Phi(x_t, t, s) at s = {s:.4g}")

"""The live plot of the measurement residual ||y - A x0|| per step, one curve per method.

It observes an :class:`~.run.InverseState` (redrawn on the run controller's throttled updates).
The dashed line is the truth's own residual (what the measurement noise alone leaves); a filled
marker at the end of a curve is the residual of the run's final samples; the vertical line follows
the trajectory panel's scrubber.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from .problem import METHODS
from ..colors import current

COLORS = {"replace": (255, 196, 64), "dps": (110, 190, 255), "pigdm": (240, 110, 200),
          "ddnm": (120, 220, 140), "red-diff": (255, 120, 90), "dds": (190, 160, 255),
          "ir-sde": (90, 215, 215)}


def color_of(branch: str) -> tuple:
    if branch in COLORS:
        return COLORS[branch]
    return pg.intColor(hash(branch) % 12, 12).getRgb()[:3]


class ResidualPlot(pg.PlotWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent, background=current().plot)
        self.state = state
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMinimumHeight(120)
        self.setLabel("bottom", "step")
        self.setLabel("left", "‖y − A x̂₀‖")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.showGrid(x=True, y=True, alpha=0.15)
        self.legend = self.addLegend(offset=(-8, 8), labelTextColor=(200, 208, 216),
                                     brush=pg.mkBrush(16, 20, 24, 200))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.finals: dict[str, pg.ScatterPlotItem] = {}
        self.truth_line = pg.InfiniteLine(angle=0, movable=False,
                                          pen=pg.mkPen(200, 208, 216, 150, style=Qt.DashLine),
                                          label="truth", labelOpts={"position": 0.04,
                                                                    "color": (200, 208, 216)})
        self.truth_line.setVisible(False)
        self.addItem(self.truth_line)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(255, 255, 255, 70))
        self.cursor.setVisible(False)
        self.addItem(self.cursor)
        self.setToolTip("‖y − A x̂₀‖ per step: how far each method's x0-prediction is from the "
                        "measurement (mean over the samples). Dashed: the truth's own residual "
                        "(the noise level); dots: the final samples.")

    def set_reference(self, value: float | None) -> None:
        self.truth_line.setVisible(value is not None)
        if value is not None:
            self.truth_line.setValue(value)

    def on_started(self, info) -> None:
        for item in list(self.curves.values()) + list(self.finals.values()):
            self.removeItem(item)
        self.legend.clear()
        self.curves, self.finals = {}, {}
        order = sorted(info.branches, key=lambda b: METHODS.index(b) if b in METHODS else 99)
        for b in order:
            c = color_of(b)
            self.curves[b] = self.plot([], [], pen=pg.mkPen(c, width=2), name=info.titles[b])
            self.finals[b] = pg.ScatterPlotItem(size=9, pen=pg.mkPen(c), brush=pg.mkBrush(*c))
            self.addItem(self.finals[b])
        self.cursor.setVisible(False)
        self.enableAutoRange()

    def refresh(self) -> None:
        for b, curve in self.curves.items():
            steps, values = self.state.residuals(b)
            curve.setData(steps, values)
            fin = self.state.final_residual(b)
            self.finals[b].setData([steps[-1]] if fin is not None and len(steps) else [],
                                   [fin] if fin is not None and len(steps) else [])

    def show_step(self, step: int | None) -> None:
        self.cursor.setVisible(step is not None)
        if step is not None:
            self.cursor.setValue(step)

    def curve_data(self, branch: str):
        """(steps, residuals) drawn for a branch (for tests)."""
        return self.curves[branch].getData()

"""The particle methods' diagnostics in the Inverse problems workspace, and the comparison of every
method against the exact posterior.

:class:`ParticlePanel` is a self-contained widget. Its top plot traces each particle method's
effective sample size per step (mean over its populations, as a fraction of K; a dot where a
population was resampled); the bar chart below shows one method's normalised particle weights at
the chosen step (first population, sorted). The *Compare with the exact posterior* button (enabled
for a Gaussian-mixture prior) samples every checked method with 1000 samples in a background
thread (:func:`studio.core.inverse.exactness.exactness_report`) and fills the table: sliced W2 to
exact posterior samples and its ratio to the finite-sample floor, the posterior-mean error, the
largest error of the posterior's component weights, NFE and seconds.
"""
from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSlider,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...core.errors import StudioError
from .residual import color_of
from ..colors import current

COLUMNS = ("method", "SW2", "× floor", "mean err", "weights err", "weights (exact)", "NFE", "s")


class ParticlePanel(QWidget):
    """ESS per step and particle weights of the particle methods; the exact-posterior table."""

    compared = Signal(object, str)        # rows (list of dicts) or None, error message

    def __init__(self, state, pipeline_doc=None, parent=None):
        super().__init__(parent)
        self.state = state
        #: a callable returning the current pipeline document (dict) to compare; raises StudioError
        self.pipeline_doc = pipeline_doc
        self.rows: list[dict] | None = None
        self._thread: threading.Thread | None = None

        self.ess_plot = pg.PlotWidget(background=current().plot)
        self.ess_plot.setMenuEnabled(False)
        self.ess_plot.hideButtons()
        self.ess_plot.setLabel("bottom", "step")
        self.ess_plot.setLabel("left", "ESS / K")
        self.ess_plot.setYRange(0, 1.05)
        self.ess_plot.showGrid(x=True, y=True, alpha=0.15)
        self.ess_legend = self.ess_plot.addLegend(offset=(-8, 8), labelTextColor=(200, 208, 216),
                                                  brush=pg.mkBrush(16, 20, 24, 200))
        self.ess_plot.setToolTip("Effective sample size per step (mean over populations, as a "
                                 "fraction of K); dots: steps where a population was resampled")
        self.weight_plot = pg.PlotWidget(background=current().plot)
        self.weight_plot.setMenuEnabled(False)
        self.weight_plot.hideButtons()
        self.weight_plot.setLabel("bottom", "particle (sorted by weight)")
        self.weight_plot.setLabel("left", "weight")
        self.weight_plot.getAxis("left").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=(110, 190, 255))
        self.weight_plot.addItem(self.bars)
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("The particle method whose weights are shown")
        self.step_slider = QSlider(Qt.Horizontal)
        self.step_slider.setToolTip("The step whose weights are shown (before that step's "
                                    "resampling)")
        self.step_label = QLabel()
        self.compare_button = QPushButton("Compare with the exact posterior")
        self.compare_button.setToolTip("Sample every checked method (1000 samples each) and grade "
                                       "it against the exact posterior of the Gaussian-mixture "
                                       "prior")
        self.compare_status = QLabel()
        self.compare_status.setWordWrap(True)
        self.compare_status.setStyleSheet("color: #9aa4ae;")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)

        pick = QHBoxLayout()
        pick.addWidget(self.method_combo)
        pick.addWidget(self.step_slider, 1)
        pick.addWidget(self.step_label)
        weights = QWidget()
        wl = QVBoxLayout(weights)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addLayout(pick)
        wl.addWidget(self.weight_plot, 1)
        compare = QWidget()
        cl = QVBoxLayout(compare)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.compare_button)
        cl.addWidget(self.compare_status)
        cl.addWidget(self.table, 1)
        split = QSplitter(Qt.Vertical)
        for w in (self.ess_plot, weights, compare):
            split.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.curves: dict[str, tuple] = {}
        self.method_combo.currentIndexChanged.connect(lambda _i: self._show_weights())
        self.step_slider.valueChanged.connect(lambda _v: self._show_weights())
        self.compare_button.clicked.connect(self.compare)
        self.compared.connect(self._compared)

    # -- the run's traces ---------------------------------------------------------------------
    def on_started(self, info=None) -> None:
        for curve, dots in self.curves.values():
            self.ess_plot.removeItem(curve)
            self.ess_plot.removeItem(dots)
        self.ess_legend.clear()
        self.curves = {}
        self.method_combo.clear()
        self.bars.setOpts(x=[], height=[])

    def refresh(self) -> None:
        """Draw the traces of the finished particle branches."""
        for b in self.state.traced():
            tr = self.state.trace(b)
            if not tr:
                continue
            steps = np.array([e["i"] for e in tr], dtype=float)
            ess = np.array([float(e["ess"].mean()) for e in tr])
            res = [i for i, e in enumerate(tr) if bool(e["resampled"].any())]
            if b not in self.curves:
                c = color_of(b)
                curve = self.ess_plot.plot([], [], pen=pg.mkPen(c, width=2), name=b)
                dots = pg.ScatterPlotItem(size=6, pen=pg.mkPen(c), brush=pg.mkBrush(*c))
                self.ess_plot.addItem(dots)
                self.curves[b] = (curve, dots)
                self.method_combo.addItem(b)
            curve, dots = self.curves[b]
            curve.setData(steps, ess)
            dots.setData(steps[res], ess[res])
        self._show_weights()

    def ess_data(self, branch: str):
        """(steps, mean ESS / K) drawn for a branch (for tests)."""
        return self.curves[branch][0].getData()

    def _show_weights(self) -> None:
        b = self.method_combo.currentText()
        tr = self.state.trace(b) if b else []
        if not tr:
            self.bars.setOpts(x=[], height=[])
            self.step_label.setText("")
            return
        self.step_slider.blockSignals(True)
        self.step_slider.setRange(0, len(tr) - 1)
        if self.step_slider.value() == 0 and len(tr) > 1 and not self.step_slider.isSliderDown():
            self.step_slider.setValue(len(tr) - 1)
        self.step_slider.blockSignals(False)
        e = tr[min(self.step_slider.value(), len(tr) - 1)]
        w = np.sort(e["weights"][0].numpy())[::-1]
        self.bars.setOpts(x=np.arange(len(w)), height=w, width=0.8, brush=color_of(b))
        self.step_label.setText(f"step {e['i']} · ESS {float(e['ess'][0]):.2f} K")

    # -- the comparison -----------------------------------------------------------------------
    def compare(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return False
        try:
            doc = self.pipeline_doc()
        except StudioError as exc:
            self.compare_status.setText(f"cannot compare: {exc}")
            return False
        self.compare_status.setText("sampling every method with 1000 samples…")
        self.compare_button.setEnabled(False)

        def work():
            from ...core.inverse.exactness import exactness_report
            try:
                self.compared.emit(exactness_report(doc, n=1000), "")
            except StudioError as exc:
                self.compared.emit(None, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the user, not swallowed
                self.compared.emit(None, f"{type(exc).__name__}: {exc}")

        self._thread = threading.Thread(target=work, name="exact-posterior", daemon=True)
        self._thread.start()
        return True

    def _compared(self, rows, error: str) -> None:
        self.compare_button.setEnabled(True)
        if rows is None:
            self.compare_status.setText(f"comparison failed: {error}")
            return
        self.rows = rows
        self.table.setRowCount(len(rows))
        exact = rows[0]["exact_weights"]
        for i, r in enumerate(rows):
            cells = (r["method"], f"{r['sw']:.3f}", f"{r['ratio']:.2f}", f"{r['mean_err']:.3f}",
                     f"{r['weights_err']:.3f}",
                     " ".join(f"{w:.2f}" for w in r["weights"]) + (
                         "  (" + " ".join(f"{w:.2f}" for w in exact) + ")" if i == 0 else ""),
                     str(r["nfe"]), f"{r['seconds']:.1f}")
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        methods = [r for r in rows if r["method"] not in ("exact posterior", "exact score")]
        best = min(methods, key=lambda r: r["sw"]) if methods else None
        self.compare_status.setText(
            "SW2 to exact posterior samples; × floor: over fresh exact samples of the same size; "
            "exact score: the solver on the posterior's exact denoiser (its discretisation floor)"
            + (f" · closest: {best['method']} ({best['ratio']:.2f}× floor)" if best else ""))

    def wait(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["ParticlePanel"]

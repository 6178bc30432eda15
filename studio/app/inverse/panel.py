"""The inverse-problem panel: pick a prior and a ground truth, paint a mask or choose another
operator, see y, choose methods, run them side by side on the same y, and watch x_t, the
x0-prediction and the residual ||y - A x0|| per step; export the pipeline for ``studio run``.

Three columns: the problem (:class:`~.problem_box.ProblemEditor`), the methods and the sampler
(:mod:`.forms`), and the results: the app's trajectory panel (one view per method, scrubber,
exports) over the residual plot. State lives in the :class:`~.model.InverseModel` and the
:class:`~.run.InverseState`; runs go through an :class:`~.run.InverseController` (worker thread,
updates throttled to ~60 Hz, cancel). Problems become a message and a dialog (signals ``message``
and ``problem``; the main window connects them to its log and its error dialog).
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSplitter, QStackedWidget, QStyle, QTabWidget, QVBoxLayout,
                               QWidget)

from ...core.errors import StudioError
from ..views.panel import TrajectoryPanel
from .forms import MethodsEditor, SamplerEditor
from .model import InverseModel
from .particles_view import ParticlePanel
from .problem_box import ProblemEditor, _caption
from .residual import ResidualPlot
from .run import InverseController, InverseState


def _scroll(widget: QWidget, min_width: int) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setWidget(widget)
    area.setMinimumWidth(min_width)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    return area


class InversePanel(QWidget):
    message = Signal(str, str)          # level (info, ok, warning, error), text
    problem = Signal(str, str)          # title, message: something the user must see
    runFinished = Signal(str, str)      # status, message

    def __init__(self, parent=None, list_models: bool = True):
        super().__init__(parent)
        self.setObjectName("inversePanel")
        # data and the model library load when the panel is first shown
        self.model = InverseModel(self, list_models=list_models, active=False)
        self.state = InverseState()
        self.controller = InverseController(self.state, parent=self)
        self.last_export: str | None = None

        self.editor = ProblemEditor(self.model)
        self.methods = MethodsEditor(self.model)
        self.sampler = SamplerEditor(self.model)
        self.run_button = QPushButton("Run")
        self.run_button.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))
        self.run_button.setToolTip("Run every checked method on the same y, side by side")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setIcon(self.style().standardIcon(QStyle.SP_MediaStop))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export pipeline…")
        self.export_button.setToolTip("Save the pipeline (one guidance node and solver per "
                                      "method) with y, the mask and the prior's data as .npy "
                                      "files beside it; `studio run` runs it")
        self.export_button.clicked.connect(self.export_dialog)
        self.run_status = QLabel()
        self.run_status.setStyleSheet("color: #9aa4ae;")
        self.run_status.setWordWrap(True)

        middle = QWidget()
        ml = QVBoxLayout(middle)
        ml.setContentsMargins(6, 6, 6, 6)
        ml.addWidget(_caption("Methods (one branch each)"))
        ml.addWidget(self.methods)
        ml.addWidget(_caption("Sampler"))
        ml.addWidget(self.sampler)
        ml.addStretch(1)
        mid_col = QWidget()
        mc = QVBoxLayout(mid_col)
        mc.setContentsMargins(0, 0, 0, 0)
        mc.addWidget(_scroll(middle, 200), 1)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(6, 0, 6, 0)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        mc.addLayout(buttons)
        mc.addWidget(self.export_button)
        mc.addWidget(self.run_status)

        self.trajectories = TrajectoryPanel(self.state)
        self.residual = ResidualPlot(self.state)
        hint = QLabel("Pick a prior and a ground truth, paint the region to inpaint (or choose "
                      "another operator), check the methods and press <b>Run</b>.<br><br>Each "
                      "method runs as one branch on the same y: its column shows x<sub>t</sub> and "
                      "the x0-prediction at every step, and the plot below traces ‖y − A x̂₀‖.")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignCenter)
        hint.setStyleSheet("color: #8a949e; padding: 24px;")
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(hint)
        self.results_stack.addWidget(self.trajectories)
        # narrow docks squeeze the views rather than force the window wider
        for w in (self.results_stack, self.residual):
            w.setMinimumWidth(220)
        results = QSplitter(Qt.Vertical)
        results.addWidget(self.results_stack)
        self.particles = ParticlePanel(self.state, lambda: self.model.pipeline().to_dict())
        self.lower_tabs = QTabWidget()
        self.lower_tabs.addTab(self.residual, "Residual")
        self.lower_tabs.addTab(self.particles, "Particles · exact posterior")
        results.addWidget(self.lower_tabs)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 2)
        results.setSizes([480, 300])
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(_scroll(self.editor, 220))
        self.splitter.addWidget(mid_col)
        self.splitter.addWidget(results)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([340, 270, 800])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)

        c = self.controller
        c.started.connect(self._started)
        c.updated.connect(self._updated)
        c.finished.connect(self._finished)
        self.trajectories.scrubber.valueChanged.connect(self._scrubbed)
        self.trajectories.png_button.clicked.connect(self._export_png)
        self.trajectories.npz_button.clicked.connect(self._export_npz)
        self.model.failed.connect(self._report)
        self.model.methodsChanged.connect(self._sync)
        self.model.measurementChanged.connect(self._sync)
        self.model.loadingChanged.connect(lambda _on: self._sync())
        self._sync()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.model.activate()

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> bool:
        if self.controller.running:
            self.message.emit("warning", "an inverse run is already going: wait for it or cancel")
            return False
        try:
            pipeline = self.model.pipeline()
        except StudioError as exc:
            self._report("Cannot run", str(exc))
            return False
        self.residual.set_reference(self.model.truth_residual())
        self.controller.start(pipeline)
        self.run_status.setText("running…")
        p = self.model.problem
        self.message.emit("info", f"inverse run: {', '.join(p.runnable_methods())} on "
                          f"{p.truth_label} ({p.operator}, σ_y {p.sigma_y:g}), {p.batch} samples "
                          f"each")
        self._sync()
        return True

    def cancel(self) -> None:
        if self.controller.cancel():
            self.run_status.setText("cancelling after the current step…")

    def shutdown(self) -> bool:
        """Stop a run and the background jobs (the window is closing)."""
        ok = self.controller.shutdown()
        self.model.wait(5000)
        return ok

    def _started(self, info) -> None:
        self.results_stack.setCurrentWidget(self.trajectories)
        self.trajectories.on_started(info)
        self.residual.on_started(info)
        self.particles.on_started(info)

    def _updated(self) -> None:
        self.trajectories.on_updated()
        self.residual.refresh()
        self.controller.pace(self.trajectories.cost_ms())
        done, total = self.state.progress()
        if total:
            self.run_status.setText(f"running… step {done}/{total}")

    def _finished(self, status: str, message: str) -> None:
        self.trajectories.on_finished(status)
        self.residual.refresh()
        self.particles.refresh()
        if status == "finished":
            parts = []
            for b in self.state.branches():
                r = self.state.final_residual(b)
                if r is not None:
                    parts.append(f"{b} {r:.3g}")
            text = "final ‖y − A x‖: " + ", ".join(parts)
            self.run_status.setText(f"finished · {text}")
            self.message.emit("ok", f"inverse run finished; {text}")
        elif status == "cancelled":
            self.run_status.setText("cancelled")
            self.message.emit("warning", f"inverse run cancelled ({message})")
        else:
            self.run_status.setText("failed")
            self._report("Inverse run failed", message)
        self._sync()
        self.runFinished.emit(status, message)

    def _scrubbed(self, value: int) -> None:
        if self.trajectories.live or not self.state.branches():
            return
        frames = self.state.frames(self.state.branches()[0])
        self.residual.show_step(frames[min(value, len(frames) - 1)].index if frames else None)

    def _sync(self) -> None:
        running = self.controller.running
        why = self.model.why_not()
        self.run_button.setEnabled(not running and why is None)
        self.run_button.setToolTip(why or "Run every checked method on the same y, side by side")
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(why is None)

    # -- exports ---------------------------------------------------------------------------------
    def export_to(self, path: str) -> bool:
        try:
            files = self.model.export(path)
        except (StudioError, OSError) as exc:
            self._report("Cannot export the pipeline", str(exc))
            return False
        self.last_export = path
        names = ", ".join(os.path.basename(f) for f in files[1:])
        self.message.emit("ok", f"saved {path} (with {names}); run it with: studio run {path}")
        return True

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the inverse-problem pipeline",
                                              self.last_export or "inverse.json",
                                              "Pipelines (*.json)")
        if path:
            self.export_to(path)

    def _export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export views", "inverse.png",
                                              "PNG images (*.png)")
        if path:
            try:
                self.trajectories.export_png(path)
                self.message.emit("ok", f"saved {path}")
            except OSError as exc:
                self._report("Cannot export", str(exc))

    def _export_npz(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export run", "inverse.npz",
                                              "NumPy archives (*.npz)")
        if path:
            try:
                self.trajectories.export_npz(path)
                self.message.emit("ok", f"saved {path}")
            except (OSError, ValueError) as exc:
                self._report("Cannot export", str(exc))

    def _report(self, title: str, message: str) -> None:
        self.message.emit("error", f"{title}: {message}")
        self.problem.emit(title, message)

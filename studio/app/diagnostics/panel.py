"""The Likelihood & diagnostics dock panel: one tab per diagnostic, one background task at a time
(progress bar, Cancel), the model taken from the current pipeline when a computation starts."""
from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QTabWidget,
                               QVBoxLayout, QWidget)

from ...core.errors import StudioError
from ...core.params import param_specs
from ..compare.tasks import TaskRunner
from ..forms import SpecForm
from .model import describe


class ParamsForm(SpecForm):
    """The app's form builder for a params dataclass (e.g. LikelihoodSettings)."""

    def __init__(self, cls, where: str, values: dict | None = None, hide=(), parent=None):
        self.cls = cls
        super().__init__([s for s in param_specs(cls) if s.name not in hide], where, values,
                         parent)

    def build(self):
        """The dataclass instance; raises StudioError naming a bad field."""
        return super().build(self.cls)


class DiagnosticsPanel(QWidget):
    taskFinished = Signal(str, str)          # task name, status

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self.runner = TaskRunner(self)
        self._done = None
        self._t0 = 0.0
        self._tabs: dict = {}
        self.header = QLabel()
        self.header.setTextFormat(Qt.RichText)
        self.header.setStyleSheet("padding: 3px 6px;")
        # the tabs' plots are built when the panel is first shown (keeps the app's start fast)
        self.tabs = QTabWidget()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.status = QLabel("ready")
        self.status.setStyleSheet("color: #9aa4ae;")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.runner.cancel)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(6, 0, 6, 4)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress, 2)
        bottom.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.header)
        lay.addWidget(self.tabs, 1)
        lay.addLayout(bottom)
        self.runner.progress.connect(self._progress)
        self.runner.finished.connect(self._finished)
        self._header_timer = QTimer(self)
        self._header_timer.setSingleShot(True)
        self._header_timer.setInterval(150)
        self._header_timer.timeout.connect(self._describe)
        window.doc.changed.connect(self._header_timer.start)
        self._closer = _StopOnClose(self.runner)
        window.installEventFilter(self._closer)
        self._describe()

    # -- the tabs, built on first use ------------------------------------------------------------
    def _ensure_tabs(self) -> None:
        if self._tabs:
            return
        from .conservativity_tab import ConservativityTab
        from .density_tab import DensityTab
        from .evolution_tab import EvolutionTab
        from .likelihood_tab import LikelihoodTab

        for key, cls, title in (("likelihood", LikelihoodTab, "Likelihood"),
                                ("density", DensityTab, "Log-density"),
                                ("conservativity", ConservativityTab, "Conservativity"),
                                ("evolution", EvolutionTab, "Density evolution")):
            self._tabs[key] = tab = cls(self)
            self.tabs.addTab(tab, title)
        self._sync()

    def showEvent(self, event) -> None:
        self._ensure_tabs()
        super().showEvent(event)

    def _tab(self, key: str):
        self._ensure_tabs()
        return self._tabs[key]

    likelihood = property(lambda self: self._tab("likelihood"))
    density = property(lambda self: self._tab("density"))
    conservativity = property(lambda self: self._tab("conservativity"))
    evolution = property(lambda self: self._tab("evolution"))

    # -- the model -------------------------------------------------------------------------------
    def _describe(self) -> None:
        try:
            text = (f"<b>{self.window.doc.title}</b> · {describe(self.window.doc.to_pipeline())}"
                    " <span style='color:#8a949e'>(the current pipeline; its first solver's "
                    "guidance)</span>")
        except (StudioError, ValueError) as exc:
            text = f"<span style='color:#e0564a'>cannot use the pipeline: {exc}</span>"
        self.header.setText(text)

    # -- tasks -----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.runner.running

    def start(self, name: str, fn, done) -> bool:
        """Run ``fn(ctx, pipeline)`` in the background, then ``done(result)`` in the UI thread."""
        if self.runner.running:
            self.window.log.warning(f"{self.runner.name} is still running: wait or cancel it")
            return False
        try:
            pipe = self.window.doc.to_pipeline()
        except StudioError as exc:
            self.window.report(f"Cannot compute the {name}", str(exc))
            return False
        self._done = done
        self._t0 = time.perf_counter()
        self.runner.start(name, lambda ctx: fn(ctx, pipe))
        self.progress.setValue(0)
        self.status.setText(f"{name}…")
        self._sync()
        return True

    def report(self, name: str, exc: Exception) -> None:
        self.window.report(f"Cannot compute the {name}", str(exc))

    def _progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(1000 * min(max(fraction, 0.0), 1.0))))
        if text:
            self.status.setText(f"{self.runner.name}: {text}")

    def _finished(self, name: str, status: str, message: str, result) -> None:
        secs = time.perf_counter() - self._t0
        if status == "finished":
            self.progress.setValue(1000)
            try:
                self._done(result)
            except Exception as exc:  # noqa: BLE001 - drawing a result must not crash the app
                status = "failed"
                self.window.report(f"Cannot show the {name}", f"{type(exc).__name__}: {exc}")
            else:
                self.status.setText(f"{name}: done in {secs:.1f} s")
                self.window.log.ok(f"{name} computed in {secs:.1f} s")
        elif status == "cancelled":
            self.status.setText(f"{name}: cancelled")
            self.window.log.warning(f"{name} cancelled")
        else:
            self.status.setText(f"{name}: failed")
            self.window.report(f"{name[:1].upper()}{name[1:]} failed", message)
        self._done = None
        self._sync()
        self.taskFinished.emit(name, status)

    def _sync(self) -> None:
        busy = self.runner.running
        self.cancel_button.setEnabled(busy)
        for tab in self._tabs.values():
            tab.set_busy(busy)


class _StopOnClose(QObject):
    def __init__(self, runner: TaskRunner):
        super().__init__(runner)
        self.runner = runner

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Hide and not event.spontaneous() and self.runner.running:
            self.runner.shutdown()
        return False

"""The training panel: settings on the left, the live loss curve and sample previews on the
right, the controls and readouts on top, and the finished model's card below.

The panel owns no training state: the :class:`~.controller.TrainingController` runs the engine's
trainer in a worker thread and records into a :class:`~.session.TrainingSession`, which the
views read. It talks to the rest of the application through signals only (see
:mod:`studio.app.extensions.training`): ``message`` for the log, ``problem`` for a dialog,
``modelSaved`` when a model file lands in the library and ``useRequested`` to put it into the
pipeline.
"""
from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy,
                               QSplitter, QStyle, QTextBrowser, QVBoxLayout, QWidget)

from ...core import catalog, library
from ...core.errors import StudioError
from ...core.modelfile import read_info
from ..browser import card_fields, training_rows
from .controller import TrainingController
from .session import Snapshot, TrainingSession
from .settings import TrainSettings
from .views import LossPlot, SamplePreview

STATUS_TEXT = {"idle": "Ready", "preparing": "Loading the data and building the network…",
               "running": "Training", "paused": "Paused", "exporting": "Saving the model…",
               "finished": "Finished", "cancelled": "Cancelled", "failed": "Failed"}


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def readout(s: Snapshot) -> str:
    """One line: status, step, loss, learning rate, speed, time and ETA."""
    parts = [f"<b>{STATUS_TEXT.get(s.status, s.status)}</b>"]
    if s.steps and s.status != "idle":
        parts.append(f"step {s.step} / {s.steps}")
    if len(s.losses):
        parts.append(f"loss {s.last_loss:.4g}")
    if s.status in ("running", "paused") and s.lr:
        parts.append(f"lr {s.lr:.2g}")
    if s.rate and s.status in ("running", "paused"):
        parts.append(f"{s.rate:.0f} steps/s")
    if s.elapsed:
        parts.append(_duration(s.elapsed))
    if s.status == "running" and s.eta:
        parts.append(f"ETA {_duration(s.eta)}")
    if s.parameters:
        parts.append(f"{s.parameters:,} parameters · {s.items:,} items")
    return " &nbsp;·&nbsp; ".join(parts)


class TrainingPanel(QWidget):
    message = Signal(str, str)           # level, text
    problem = Signal(str, str)           # title, message
    modelSaved = Signal(str)             # path of the new model file
    useRequested = Signal(object)        # catalog.Entry of the trained model
    started = Signal(dict)               # the configuration (studio.train/1) of a new training

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session = TrainingSession()
        self.controller = TrainingController(self.session, parent=self)
        self.settings = TrainSettings()
        self.loss = LossPlot()
        self.samples = SamplePreview()
        self.card = QTextBrowser()
        self.card.setMinimumHeight(60)
        self.card.setVisible(False)
        self.entry: catalog.Entry | None = None

        st = self.style()
        self.train_button = self._button("Train", st.standardIcon(QStyle.SP_MediaPlay),
                                         "Train a new model with these settings", self.train)
        self.pause_button = self._button("Pause", st.standardIcon(QStyle.SP_MediaPause),
                                         "Pause after the current step (resume where it stopped)",
                                         self.toggle_pause)
        self.cancel_button = self._button("Cancel", st.standardIcon(QStyle.SP_MediaStop),
                                          "Stop after the current step (nothing is saved; you can "
                                          "continue or save what was trained)", self.cancel)
        self.continue_button = self._button("Continue", st.standardIcon(QStyle.SP_MediaSkipForward),
                                            "Continue the cancelled training where it stopped",
                                            self.continue_training)
        self.save_button = self._button("Save model", st.standardIcon(QStyle.SP_DialogSaveButton),
                                        "Save the model trained so far into the model library",
                                        self.save_model)
        self.use_button = self._button("Use in pipeline", st.standardIcon(QStyle.SP_ArrowRight),
                                       "Make the trained model the pipeline's network", self.use)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        self.status = QLabel()
        self.status.setTextFormat(Qt.RichText)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

        bar = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.cancel_button, self.continue_button,
                  self.save_button, self.use_button):
            bar.addWidget(b)
        bar.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 4)
        rl.setSpacing(4)
        rl.addLayout(bar)
        rl.addWidget(self.status)
        rl.addWidget(self.progress)
        views = QSplitter(Qt.Horizontal)
        views.addWidget(self.loss)
        views.addWidget(self.samples)
        views.setSizes([500, 400])
        self.body = body = QSplitter(Qt.Vertical)
        body.addWidget(views)
        body.addWidget(self.card)
        body.setStretchFactor(0, 1)
        body.setCollapsible(0, False)
        rl.addWidget(body, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.settings)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setCollapsible(1, False)
        split.setSizes([380, 900])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.controller.updated.connect(self.refresh)
        self.controller.finished.connect(self._finished)
        self.controller.exported.connect(self._exported)
        self.settings.message.connect(self.message)
        self.settings.problem.connect(self.problem)
        self.refresh()

    def _button(self, text, icon, tip, slot) -> QPushButton:
        b = QPushButton(icon, text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    # -- actions -------------------------------------------------------------------------------
    def train(self) -> bool:
        """Start a training with the current settings; False (and a dialog) if they are wrong."""
        if self.controller.running:
            self.message.emit("warning", "a training is already running: pause or cancel it first")
            return False
        try:
            cfg = self.settings.config()
        except StudioError as exc:
            self.problem.emit("Cannot train", str(exc))
            return False
        self.entry = None
        self.card.setVisible(False)
        self.loss.clear()
        self.samples.clear()
        device = self.settings.device_name()
        self.controller.start(cfg, device, threads=self.settings.threads.value())
        self.started.emit(self.settings.to_dict())
        if cfg.name and self.controller.name != cfg.name.strip():
            self.message.emit("info", f"a model called “{cfg.name}” exists already: the new one "
                                      f"is called “{self.controller.name}”")
        self.message.emit("info", f"training “{self.controller.name}”: {cfg.data['kind']}, "
                                  f"{cfg.architecture['id']}, {cfg.objective.target} on "
                                  f"{cfg.process['kind']}, {cfg.optim.steps} steps on {device}")
        self.refresh()
        return True

    def toggle_pause(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()
        self.refresh()

    def cancel(self) -> None:
        if self.controller.cancel():
            self.status.setText("<b>Cancelling</b> after the current step…")

    def continue_training(self) -> None:
        why = self.controller.continue_training()
        if why:
            self.message.emit("warning", why)
        else:
            self.message.emit("info", f"training “{self.controller.name}” continues at step "
                                      f"{self.session.step}")
        self.refresh()

    def save_model(self) -> None:
        why = self.controller.export()
        if why:
            self.message.emit("warning", why)
        self.refresh()

    def use(self) -> None:
        if self.entry is not None:
            self.useRequested.emit(self.entry)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        return self.controller.shutdown(timeout_ms)

    # -- updates -------------------------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session.snapshot()
        c = self.controller
        running = c.running
        text = readout(s)
        if c.paused and s.status == "running":
            text = text.replace("<b>Training</b>", "<b>Pausing</b> after the current step…", 1)
        self.status.setText(text)
        self.progress.setValue(int(1000 * s.fraction))
        self.loss.show_snapshot(s)
        self.samples.show_snapshot(s)
        self.train_button.setEnabled(not running)
        self.settings.setEnabled(not running)
        paused = c.paused
        self.pause_button.setEnabled(running and s.status in ("running", "paused"))
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(self.style().standardIcon(
            QStyle.SP_MediaPlay if paused else QStyle.SP_MediaPause))
        self.cancel_button.setEnabled(running and s.status in ("preparing", "running", "paused"))
        self.continue_button.setEnabled(c.can_continue)
        self.save_button.setEnabled(c.can_export and s.status in ("cancelled", "failed"))
        self.use_button.setEnabled(not running and self.entry is not None)

    def _finished(self, status: str, message: str) -> None:
        self.refresh()
        s = self.session.snapshot()
        if status == "cancelled":
            self.message.emit("warning", f"training “{self.controller.name}” cancelled: {message}"
                                         " (Continue goes on; Save model keeps it as it is)")
        elif status == "failed":
            saving = message.startswith("the model could not be saved")
            self.problem.emit("Cannot save the model" if saving else "Training failed", message)
        elif status == "finished":
            self.message.emit("ok", f"trained “{self.controller.name}”: {s.step} steps in "
                                    f"{_duration(s.elapsed)}, loss {s.last_loss:.4g}")

    def _exported(self, path: str) -> None:
        try:
            self.entry = model_entry(path, self.controller.name, self.controller.description)
        except StudioError as exc:
            self.problem.emit("The saved model cannot be read", str(exc))
            return
        self.card.setHtml(card_summary_html(self.entry))
        if not self.card.isVisible():
            self.card.setVisible(True)
            h = self.body.height()
            self.body.setSizes([max(h - 150, 120), 150])
        self.message.emit("ok", f"saved the model to {path}; it is in the model browser")
        self.refresh()
        self.modelSaved.emit(path)


def card_summary_html(entry: catalog.Entry) -> str:
    """The trained model's card, training summary first, in two columns (the model browser
    shows the same rows under the model's other properties)."""
    c = entry.card()
    rows = training_rows(c.get("training"))
    keep = ("data shape", "parameterization", "trained with process", "classes", "architecture",
            "parameters")
    rows = [(k, v) for k, v in rows if v is not None]
    rows += [(k, v) for k, v in card_fields(c) if k in keep]

    def cell(k, v):
        return (f"<td style='color:#9aa4ae; padding-right:8px'>{html.escape(k)}</td>"
                f"<td style='padding-right:24px'>{html.escape(str(v))}</td>")
    half = (len(rows) + 1) // 2
    body = "".join("<tr>" + cell(*rows[i]) + (cell(*rows[i + half]) if i + half < len(rows)
                                               else "") + "</tr>" for i in range(half))
    return (f"<b>{html.escape(entry.title)}</b> &nbsp;<span style='color:#9aa4ae'>saved to "
            f"{html.escape(str(c.get('path', '')))}</span><table>{body}</table>"
            f"<p style='color:#9aa4ae'>{html.escape(entry.description)}</p>")


def model_entry(path: str, title: str, description: str) -> catalog.Entry:
    """A catalog entry for a model file of the user's library, its card read from the file's
    metadata (as the model browser lists it; no weights are loaded)."""
    info = read_info(path)
    stem = os.path.basename(path).rsplit(".", 1)[0]
    card = library.Entry(path, "user", info).card()
    card.update(name=stem, description=description, source="user")
    card.setdefault("kind", "file")
    return catalog.Entry(stem, title, {"type": "network", "kind": "file", "params": {"path": path}},
                         description, source="user", tags=("file", "user"), _card=card,
                         preview_png=getattr(getattr(info, "spec", None), "preview_png", None))

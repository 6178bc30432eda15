"""The run toolbar (device, batch size, seed, precision, Run, Cancel) and the status bar's run
progress (progress bar, ETA, Cancel). Both observe the document and the run controller."""
from __future__ import annotations

import time

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox,
                               QToolBar, QWidget)

from .document import PipelineDocument
from .elide import ElidedLabel
from .runspecs import RUN_SPECS, limit
from .seedbox import SeedBox


def devices() -> list[tuple[str, str]]:
    """(id, label) of the devices torch can use here."""
    out = [("cpu", "CPU")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append((f"cuda:{i}", f"CUDA {i}: {torch.cuda.get_device_name(i)}"))
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append(("mps", "Apple MPS"))
    return out


class RunToolbar(QToolBar):
    def __init__(self, doc: PipelineDocument, run_action, cancel_action, parent=None):
        super().__init__("Run", parent)
        self.setObjectName("runToolbar")
        self.doc = doc
        self.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addAction(run_action)
        self.addAction(cancel_action)
        self.addSeparator()
        self.device = QComboBox()
        self.device.setToolTip("Where the run computes (CUDA/MPS appear when torch sees them)")
        self.batch = QSpinBox()
        limit(self.batch, "batch")
        self.batch.setSingleStep(100)
        self.batch.setKeyboardTracking(False)
        self.batch.setToolTip("Number of samples (particles) per run")
        self.seed = SeedBox()   # 64-bit: a QSpinBox would clip seeds >= 2**31
        limit(self.seed, "seed")
        self.seed.setKeyboardTracking(False)
        self.dtype = QComboBox()
        self.dtype.addItems(list(RUN_SPECS["dtype"].choices))
        self.dtype.setToolTip("Precision of the run (bfloat16 / float16: diffusers networks "
                              "compute in half precision; the solver state stays float32)")
        for label, w in (("Device", self.device), ("Batch", self.batch), ("Seed", self.seed),
                         ("Precision", self.dtype)):
            box = QWidget()
            lay = QHBoxLayout(box)
            lay.setContentsMargins(6, 0, 6, 0)
            lay.addWidget(QLabel(label))
            lay.addWidget(w)
            self.addWidget(box)
        self.device.activated.connect(lambda i: doc.set_run("device", self.device.itemData(i)))
        self.batch.valueChanged.connect(lambda v: doc.set_run("batch", int(v)))
        self.seed.valueChanged.connect(lambda v: doc.set_run("seed", int(v)))
        self.dtype.activated.connect(lambda i: doc.set_run("dtype", self.dtype.itemText(i)))
        doc.runChanged.connect(self.sync)
        doc.reset.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        run = self.doc.run
        for w in (self.device, self.batch, self.seed, self.dtype):
            w.blockSignals(True)
        self.device.clear()
        for dev, label in devices():
            self.device.addItem(label, dev)
        if self.device.findData(run.device) < 0:
            self.device.addItem(f"{run.device} (not available)", run.device)
        self.device.setCurrentIndex(self.device.findData(run.device))
        self.batch.setValue(run.batch)
        self.seed.setValue(run.seed)
        self.dtype.setCurrentText(run.dtype)
        for w in (self.device, self.batch, self.seed, self.dtype):
            w.blockSignals(False)


STATUS_WORDS = {"finished": "done", "cancelled": "cancelled", "failed": "failed"}


class RunProgress(QWidget):
    """Progress bar, ETA and a Cancel button, for the status bar."""

    def __init__(self, cancel_action, parent=None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%v / %m steps")
        self.eta = QLabel("")
        self.eta.setMinimumWidth(120)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the run after the current step (Esc)")
        self.cancel.clicked.connect(cancel_action.trigger)
        #: the jobs running now, in any workspace (else the last one, with how it ended)
        self.job = ElidedLabel("", mode=Qt.ElideRight)
        self.job.setMinimumWidth(220)
        self.job.setMaximumWidth(360)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.addWidget(self.job, 1)
        lay.addWidget(self.eta)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel)
        self._t0 = 0.0
        self.idle()
        from .jobs import registry
        self._jobs = registry()
        self._jobs.changed.connect(self._jobs_changed)

    def _jobs_changed(self) -> None:
        active = self._jobs.active()
        if active:
            self.job.setText("▶ " + " · ".join(n[:1].upper() + n[1:] for n in active))
        else:
            name, status = self._jobs.last
            self.job.setText(f"{name}: {STATUS_WORDS.get(status, status)}" if name else "")

    def begin(self) -> None:
        self._t0 = time.perf_counter()
        self.bar.setRange(0, 0)
        self.bar.setValue(0)
        self.eta.setText("building…")
        self.cancel.setEnabled(True)

    def update_progress(self, done: int, total: int) -> None:
        if total <= 0:
            return
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        elapsed = time.perf_counter() - self._t0
        if done > 0:
            left = elapsed / done * (total - done)
            self.eta.setText(f"ETA {left:.1f} s" if left < 120 else f"ETA {left / 60:.1f} min")

    def idle(self, text: str = "") -> None:
        self.cancel.setEnabled(False)
        self.eta.setText(text)
        if self.bar.maximum() == 0:
            self.bar.setRange(0, 1)

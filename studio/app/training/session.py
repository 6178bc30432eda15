"""The state of one training as the views see it (Qt-free, thread-safe).

The worker thread records the trainer's events here; the views read a :meth:`snapshot` when they
repaint (a timer, at most ~30 times a second), never the trainer itself.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

#: statuses: idle, preparing (loading data, building the network), running, paused, exporting,
#: finished, cancelled, failed
ACTIVE = ("preparing", "running", "paused", "exporting")
#: points of the training data kept for the preview's backdrop, and samples kept per preview
MAX_REFERENCE = 4000
MAX_SAMPLES = 4000


@dataclass
class Preview:
    step: int
    samples: np.ndarray              # [n, 2] points or [n, C, H, W] images, data units
    labels: Optional[np.ndarray]
    seconds: float


@dataclass
class Snapshot:
    """A consistent copy of what the views draw."""

    version: int
    status: str
    message: str
    step: int
    steps: int
    loss_steps: np.ndarray
    losses: np.ndarray
    lr: float
    rate: float
    elapsed: float
    eta: float
    data_kind: str
    data_range: Optional[list]
    num_classes: int
    class_names: Optional[list]
    reference: Optional[np.ndarray]
    preview: Optional[Preview]
    model_path: str
    items: int
    parameters: int
    #: a noise-conditional classifier: no sample previews
    is_classifier: bool = False

    @property
    def fraction(self) -> float:
        return self.step / self.steps if self.steps else 0.0

    @property
    def last_loss(self) -> float:
        return float(self.losses[-1]) if len(self.losses) else float("nan")


@dataclass
class TrainingSession:
    """Written by the worker thread, read by the UI thread."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    version: int = 0
    status: str = "idle"
    message: str = ""
    step: int = 0
    steps: int = 0
    loss_steps: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    lr: float = 0.0
    rate: float = 0.0
    elapsed: float = 0.0
    eta: float = 0.0
    data_kind: str = "points"
    data_range: Optional[list] = None
    num_classes: int = 0
    class_names: Optional[list] = None
    reference: Optional[np.ndarray] = None
    preview: Optional[Preview] = None
    model_path: str = ""
    items: int = 0
    parameters: int = 0
    is_classifier: bool = False

    def _bump(self) -> None:
        self.version += 1

    # -- worker side ---------------------------------------------------------------------------
    def begin(self, steps: int) -> None:
        """A fresh training (not a continuation): forget the previous one."""
        with self._lock:
            self.status, self.message = "preparing", ""
            self.step, self.steps = 0, steps
            self.loss_steps, self.losses = [], []
            self.lr = self.rate = self.elapsed = self.eta = 0.0
            self.reference, self.preview, self.model_path = None, None, ""
            self.items = self.parameters = 0
            self._bump()

    def prepared(self, trainer) -> None:
        """The trainer is built: what the data looks like."""
        data = trainer.data
        ref = None
        if data.kind != "image":
            rng = np.random.default_rng(0)
            x = np.asarray(data.x, dtype=np.float32).reshape(len(data.x), -1)
            if len(x) > MAX_REFERENCE:
                x = x[rng.choice(len(x), MAX_REFERENCE, replace=False)]
            ref = x[:, :2]
        with self._lock:
            self.data_kind = data.kind
            self.data_range = list(data.range) if data.range else None
            self.num_classes = trainer.num_classes
            self.is_classifier = bool(getattr(trainer, "is_classifier", False))
            self.class_names = list(data.class_names) if trainer.num_classes else None
            self.reference = ref
            self.items = int(len(data.x))
            self.parameters = int(sum(p.numel() for p in trainer.model.net.parameters()))
            self.step, self.steps = trainer.step, trainer.steps
            self.loss_steps = [s for s, _ in trainer.history]
            self.losses = [v for _, v in trainer.history]
            self.elapsed = trainer.elapsed
            self._bump()

    def set_status(self, status: str, message: str = "") -> None:
        with self._lock:
            self.status, self.message = status, message
            self._bump()

    def progress(self, ev) -> None:
        """A :class:`~studio.core.training.TrainProgress`."""
        with self._lock:
            self.step, self.steps = ev.step, ev.steps
            self.loss_steps.append(ev.step)
            self.losses.append(float(ev.loss))
            self.lr, self.rate = ev.lr, ev.steps_per_second
            self.elapsed, self.eta = ev.elapsed, ev.eta
            self._bump()

    def add_preview(self, ev) -> None:
        """A :class:`~studio.core.training.TrainPreview`."""
        samples = ev.samples.detach().to("cpu").numpy()[:MAX_SAMPLES]
        labels = None if ev.labels is None else ev.labels.detach().cpu().numpy()[:MAX_SAMPLES]
        with self._lock:
            self.preview = Preview(ev.step, samples, labels, float(ev.seconds))
            self._bump()

    def finished(self, ev) -> None:
        with self._lock:
            self.step, self.elapsed = ev.step, ev.elapsed
            self._bump()

    def set_model_path(self, path: str) -> None:
        with self._lock:
            self.model_path = path
            self._bump()

    # -- UI side -------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self.version, self.status, self.message, self.step, self.steps,
                            np.asarray(self.loss_steps, dtype=np.float64),
                            np.asarray(self.losses, dtype=np.float64), self.lr, self.rate,
                            self.elapsed, self.eta, self.data_kind, self.data_range,
                            self.num_classes, self.class_names, self.reference, self.preview,
                            self.model_path, self.items, self.parameters, self.is_classifier)

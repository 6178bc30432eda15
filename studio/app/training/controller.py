"""Training in a worker thread: :class:`TrainingController` (UI thread) drives the engine's
:class:`~studio.core.training.Trainer` through a :class:`~studio.core.training.TrainControl`.

One job at a time runs in a QThread: a training (build the trainer, iterate its events into the
:class:`~.session.TrainingSession`, then export the model into the user's library) or an export
of a cancelled training. The controller tells the views about changes with a timer, at most
``fps`` times a second, however fast the trainer steps. Every failure (bad data, a loss that
became NaN, out of memory, a bug) ends the job with status ``failed`` and a readable message:
nothing escapes the worker thread.
"""
from __future__ import annotations

import traceback
from typing import Callable

import torch
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from ...core import library
from ...core.errors import StudioError
from ...core.training import (TrainConfig, TrainControl, Trainer, TrainFinished, TrainPreview,
                              TrainProgress)
from .session import TrainingSession


class _Control(TrainControl):
    """A TrainControl that records in the session when the trainer actually stops for a pause
    (the step in flight is finished first), and when it goes on."""

    def __init__(self, session: TrainingSession):
        super().__init__()
        self.session = session

    def wait(self) -> bool:
        blocked = self.paused and not self.cancelled
        if blocked:
            self.session.set_status("paused")
        ok = super().wait()
        if blocked and ok:
            self.session.set_status("running")
        return ok


class _Job(QObject):
    """Runs ``fn() -> (status, message)`` in the worker thread; never raises."""

    done = Signal()

    def __init__(self, fn: Callable[[], tuple[str, str]]):
        super().__init__()
        self.fn = fn
        self.status, self.message = "failed", ""

    @Slot()
    def run(self) -> None:
        try:
            self.status, self.message = self.fn()
        except StudioError as exc:
            self.message = str(exc)
        except torch.cuda.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            self.message = ("CUDA out of memory: reduce the batch size or the network, or train "
                            "on the CPU")
        except MemoryError:
            self.message = "out of memory: reduce the batch size or the network"
        except Exception as exc:  # noqa: BLE001 - a bug must not take the app down
            self.message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        finally:
            self.done.emit()


def default_description(cfg: TrainConfig) -> str:
    obj = cfg.objective
    cond = ", class-conditional" if cfg.conditional else ""
    from ...core.training.config import FLOW_TARGETS
    what = (f"a flow map (x_t, t, s) -> x_s trained by {obj.target}"
            + (f" from the teacher {obj.teacher}" if obj.teacher else "")
            if obj.target in FLOW_TARGETS else f"predicting {obj.target}")
    return (f"Trained in Diffusion Studio on {cfg.data['kind']}{cond}: {cfg.architecture['id']} "
            f"{what} on the {cfg.process['kind']} process, "
            f"{cfg.optim.steps} steps of batch {cfg.optim.batch}.")


class TrainingController(QObject):
    """Starts, pauses, resumes, cancels and exports trainings; one job at a time."""

    updated = Signal()               # the session changed (at most ``fps`` times a second)
    finished = Signal(str, str)      # status (finished, cancelled, failed), message
    exported = Signal(str)           # a model file was written (its path)

    def __init__(self, session: TrainingSession | None = None, fps: float = 30.0, parent=None):
        super().__init__(parent)
        self.session = session or TrainingSession()
        #: the last training, kept after it ends (continue it, export it); None after a failure
        self.trainer: Trainer | None = None
        self.config: TrainConfig | None = None
        self.name, self.description = "", ""
        self.threads: int | None = None
        self._control: _Control | None = None
        self._thread: QThread | None = None
        self._job: _Job | None = None
        self._seen = -1
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / fps)))
        self._timer.timeout.connect(self._poll)

    # -- state ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self._control is not None and self._control.paused and self.running

    @property
    def can_continue(self) -> bool:
        """A cancelled training that has steps left."""
        t = self.trainer
        return (not self.running and t is not None and self.session.status == "cancelled"
                and t.step < t.steps)

    @property
    def can_export(self) -> bool:
        return not self.running and self.trainer is not None and self.trainer.step > 0

    # -- actions -------------------------------------------------------------------------------
    def start(self, config: TrainConfig, device: str = "cpu", export: bool = True,
              threads: int | None = None) -> str | None:
        """Train ``config`` from scratch; when it completes (and ``export``), write the model into
        the user's library. ``threads``: torch CPU threads of the worker (None: torch's default).
        Returns None, or why it cannot start."""
        if self.running:
            return "a training is already running: pause or cancel it first"
        self.trainer, self.config, self.threads = None, config, threads
        self.name = config.name or str(config.data.get("kind", "model"))
        self.description = config.description or default_description(config)
        self.session.begin(config.optim.steps)
        self._launch(lambda: self._train(config, device, export))
        return None

    def continue_training(self, export: bool = True) -> str | None:
        """Go on with a cancelled training where it stopped."""
        if not self.can_continue:
            return "nothing to continue: start a training"
        self._launch(lambda: self._train(None, None, export))
        return None

    def export(self) -> str | None:
        """Write the current (cancelled) training's model into the library."""
        if not self.can_export:
            return "nothing to save: train a model first"
        trainer = self.trainer
        self._launch(lambda: self._export(trainer))
        return None

    def pause(self) -> bool:
        if self._control is not None and self.running and self.session.status == "running":
            self._control.pause()
            return True
        return False

    def resume(self) -> bool:
        if self._control is not None and self.running and self._control.paused:
            self._control.resume()
            return True
        return False

    def cancel(self) -> bool:
        if self._control is not None and self.running and self.session.status != "exporting":
            self._control.cancel()
            return True
        return False

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel and wait for the worker (closing the window). True if it stopped in time."""
        if not self.running:
            return True
        if self._control is not None:
            self._control.cancel()
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    # -- worker side ---------------------------------------------------------------------------
    def _train(self, config: TrainConfig | None, device: str | None, export: bool):
        s = self.session
        if config is not None:
            self.trainer = Trainer(config, device or "cpu")
        trainer = self.trainer
        s.prepared(trainer)
        s.set_status("running")
        cancelled = False
        try:
            for ev in trainer.run(self._control):
                if isinstance(ev, TrainProgress):
                    s.progress(ev)
                elif isinstance(ev, TrainPreview):
                    s.add_preview(ev)
                elif isinstance(ev, TrainFinished):
                    s.finished(ev)
                    cancelled = ev.cancelled
        except BaseException:
            self.trainer = None      # a half-made step: do not offer to continue or save it
            raise
        if cancelled:
            return "cancelled", f"stopped at step {trainer.step} of {trainer.steps}"
        last = s.snapshot().preview
        if trainer.config.preview.every and not trainer.is_classifier and (
                last is None or last.step != trainer.step):
            s.add_preview(trainer.preview())      # the finished model's samples
        if export:
            return self._export(trainer)
        return "finished", ""

    def _export(self, trainer: Trainer):
        self.session.set_status("exporting")
        path = library.new_model_path(self.name)
        trainer.export(str(path), name=self.name, description=self.description)
        self.session.set_model_path(str(path))
        return "finished", str(path)

    # -- plumbing ------------------------------------------------------------------------------
    def _launch(self, fn) -> None:
        self._control = _Control(self.session)
        thread = QThread()
        threads = self.threads

        def run():
            if threads:
                # per thread: the UI thread's sampling keeps its own setting
                torch.set_num_threads(threads)
            return fn()
        job = _Job(run)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        # direct: quit() is thread-safe, and the UI thread may be blocked in shutdown()'s wait()
        job.done.connect(thread.quit, Qt.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._job = thread, job
        self._seen = -1
        thread.start()
        self._timer.start()

    def _poll(self) -> None:
        v = self.session.version
        if v != self._seen:
            self._seen = v
            self.updated.emit()

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._timer.stop()
        thread, job = self._thread, self._job
        self._thread = self._job = None
        thread.wait()
        status, message = job.status, job.message
        job.deleteLater()
        thread.deleteLater()
        if status == "failed" and self.session.status == "exporting":
            message = f"the model could not be saved: {message}"
        self.session.set_status(status, message)
        self._poll()
        if status == "finished" and self.session.model_path:
            self.exported.emit(self.session.model_path)
        self.finished.emit(status, message)

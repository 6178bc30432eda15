"""Long computations in a worker thread: progress, partial results, cancel, errors as messages.

:class:`TaskRunner` lives in the UI thread and runs one function at a time in a QThread. The
function receives a :class:`TaskContext`: it reports progress (``ctx.progress(fraction, text)``)
and streams partial results (``ctx.emit(item)``) without touching Qt; the runner polls the context
with a timer (at most ~60 times a second, however often the function reports) and re-emits both
as signals in the UI thread. ``cancel()`` sets the engine's CancelToken, which the engine checks
between steps. Whatever the function raises becomes a ``failed`` status with a readable message.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

import torch
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from ...core.errors import Cancelled, StudioError
from ...core.runner import CancelToken


class TaskContext:
    """What a task function sees: the cancel token and thread-safe progress / result channels."""

    def __init__(self, cancel: CancelToken):
        self.cancel = cancel
        self._lock = threading.Lock()
        self._items: list = []
        self._progress: tuple[float, str] | None = None

    def progress(self, fraction: float, text: str = "") -> None:
        with self._lock:
            self._progress = (float(fraction), text)

    def emit(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def check(self) -> None:
        """Raise Cancelled if the user cancelled (for loops between engine calls)."""
        if self.cancel.cancelled:
            raise Cancelled("cancelled")

    def take(self) -> tuple[list, tuple[float, str] | None]:
        with self._lock:
            items, self._items = self._items, []
            prog, self._progress = self._progress, None
        return items, prog


class _Worker(QObject):
    done = Signal()

    def __init__(self, fn: Callable[[TaskContext], Any], ctx: TaskContext):
        super().__init__()
        self.fn, self.ctx = fn, ctx
        self.status, self.message, self.result = "failed", "", None

    @Slot()
    def run(self) -> None:
        try:
            self.result = self.fn(self.ctx)
            self.status = "finished"
        except Cancelled as exc:
            self.status, self.message = "cancelled", str(exc) or "cancelled"
        except StudioError as exc:
            self.message = str(exc)
        except MemoryError:
            self.message = "out of memory: make the problem smaller (batch, grid size, samples)"
        except torch.cuda.OutOfMemoryError:
            self.message = "CUDA out of memory: make the problem smaller, or run on the CPU"
        except Exception as exc:  # noqa: BLE001 - a bug must become a message, not a crash
            self.message = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        finally:
            self.done.emit()


class TaskRunner(QObject):
    """Runs one task at a time off the UI thread."""

    started = Signal(str)                   # task name
    progress = Signal(float, str)           # fraction 0..1, text (throttled)
    items = Signal(list)                    # partial results in arrival order (throttled)
    finished = Signal(str, str, str, object)  # name, status, message, result

    def __init__(self, parent=None, fps: float = 60.0):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._ctx: TaskContext | None = None
        self.name = ""
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / fps)))
        self._timer.timeout.connect(self._poll)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, name: str, fn: Callable[[TaskContext], Any]) -> bool:
        """Start ``fn(ctx)`` in a worker thread; False (nothing started) if a task is running."""
        if self.running:
            return False
        self.name = name
        self._ctx = TaskContext(CancelToken())
        thread = QThread()
        worker = _Worker(fn, self._ctx)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # direct: quit() is thread-safe, and the UI thread may be blocked in shutdown()'s wait()
        worker.done.connect(thread.quit, Qt.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self.started.emit(name)
        thread.start()
        self._timer.start()
        return True

    def cancel(self) -> bool:
        if self.running and self._ctx is not None:
            self._ctx.cancel.cancel()
            return True
        return False

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel and wait for the worker (the window is closing). True if it stopped in time."""
        if not self.running:
            return True
        self.cancel()
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    def _poll(self) -> None:
        if self._ctx is None:
            return
        items, prog = self._ctx.take()
        if prog is not None:
            self.progress.emit(*prog)
        if items:
            self.items.emit(items)

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._timer.stop()
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        thread.wait()
        self._poll()
        self._ctx = None
        status, message, result = worker.status, worker.message, worker.result
        worker.deleteLater()
        thread.deleteLater()
        self.finished.emit(self.name, status, message, result)

"""The application's one background-job service: generator workers in a QThread.

Sampling, comparisons, diagnostics, inverse problems and training all run through a
:class:`JobRunner` (one job at a time per runner). A job is a function of a :class:`JobContext`,
or a generator function, in the spirit of superqt's ``thread_worker``:

- it reports progress with ``ctx.progress(fraction, text)`` and streams results with
  ``ctx.emit(item)`` or by ``yield``-ing them, never touching Qt;
- the runner polls the context with one timer (at most ``fps`` times a second, however often the
  job reports; :meth:`JobRunner.pace` slows it when drawing an update is costly) and re-emits
  ``items``, ``progress`` and ``tick`` in the UI thread;
- ``cancel()`` sets the engine's :class:`~studio.core.runner.CancelToken` (the engine checks it
  between steps; a generator job is also stopped between two yields), plus the job's own cancel
  hook (a training's pause/cancel control); ``shutdown()`` cancels and waits (window closing);
- whatever the job raises becomes a status and a readable message through :func:`error_message`,
  the one mapping of exceptions to words (CUDA out of memory, MemoryError, a plugin's bug).

Every runner reports to :func:`registry`, which the status bar watches to name the job running
now. Small loads (lists, pictures, files) go through a :class:`Loader`: a pool thread, and the
result or the same error mapping back in the UI thread.
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal, Slot

from ..core.errors import Cancelled, StudioError
from ..core.runner import CancelToken


def error_message(exc: BaseException, advice: str = "reduce the batch size") -> tuple[str, str]:
    """(status, message) for an exception that ended a job: ``cancelled`` or ``failed``."""
    if isinstance(exc, Cancelled):
        return "cancelled", str(exc) or "cancelled"
    if isinstance(exc, StudioError):
        return "failed", str(exc)
    if type(exc).__name__ == "OutOfMemoryError" and type(exc).__module__.startswith("torch"):
        import torch
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return "failed", f"CUDA out of memory: {advice}, or run on the CPU (device selector)"
    if isinstance(exc, MemoryError):
        return "failed", f"out of memory: {advice}"
    from ..core.crash import internal_message   # one sentence naming a crash report
    return "failed", (internal_message(exc, hint="") + " (an error in the program or one of its "
                      "plugins, not in your settings: please report it)")


class JobContext:
    """What a job sees: the cancel token and thread-safe progress / result channels."""

    def __init__(self, cancel: CancelToken | None = None):
        self.cancel = cancel or CancelToken()
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

    def __init__(self, fn: Callable[[JobContext], Any], ctx: JobContext, advice: str):
        super().__init__()
        self.fn, self.ctx, self.advice = fn, ctx, advice
        self.status, self.message, self.result = "failed", "", None

    @Slot()
    def run(self) -> None:
        try:
            result = self.fn(self.ctx)
            if inspect.isgenerator(result):
                result = self._drain(result)
            self.result = result
            self.status = "finished"
        except BaseException as exc:  # noqa: BLE001 - a job must end in a message, not a crash
            self.status, self.message = error_message(exc, self.advice)
        finally:
            self.done.emit()

    def _drain(self, gen):
        """Run a generator job: every yielded value goes to the UI as an item; stop between two
        yields once cancelled. Returns the generator's return value."""
        try:
            while True:
                self.ctx.check()
                self.ctx.emit(next(gen))
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()


class JobRegistry(QObject):
    """The runners with a job in flight, for the status bar (``changed`` when one starts/ends)."""

    changed = Signal()
    _load_finished = Signal()       # emitted by a pool thread; delivered in the GUI thread

    def __init__(self):
        super().__init__()
        self._load_finished.connect(lambda: self._load(-1))
        self._active: list[JobRunner] = []
        self._loads = 0                          # background loads in flight
        self.last: tuple[str, str] = ("", "")     # (name, status) of the last job that ended

    def active(self) -> list[str]:
        return [r.name for r in self._active]

    def busy(self) -> bool:
        """Whether any thread but the GUI thread may be running Python (a job or a load)."""
        return bool(self._active) or self._loads > 0

    def _load(self, delta: int) -> None:
        before = self.busy()
        self._loads = max(0, self._loads + delta)
        if self.busy() != before:
            self.changed.emit()

    def _started(self, runner) -> None:
        if runner not in self._active:
            self._active.append(runner)
        self.changed.emit()

    def _ended(self, runner, status: str) -> None:
        if runner in self._active:
            self._active.remove(runner)
        self.last = (runner.name, status)
        self.changed.emit()


_REGISTRY: JobRegistry | None = None


def registry() -> JobRegistry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = JobRegistry()
    return _REGISTRY


class JobRunner(QObject):
    """Runs one job at a time off the UI thread (see the module docstring)."""

    started = Signal(str)                     # job name
    progress = Signal(float, str)             # fraction 0..1, text (throttled)
    items = Signal(list)                      # results in arrival order (throttled)
    tick = Signal()                           # every poll while a job runs, and once at its end
    finished = Signal(str, str, str, object)  # name, status, message, result

    def __init__(self, parent=None, fps: float = 60.0, advice: str = "reduce the batch size"):
        super().__init__(parent)
        self.min_interval = max(1, int(1000 / fps))
        self.advice = advice
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._ctx: JobContext | None = None
        self._on_cancel: Callable[[], None] | None = None
        self.name = ""
        self._timer = QTimer(self)
        self._timer.setInterval(self.min_interval)
        self._timer.timeout.connect(self._poll)

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def context(self) -> JobContext | None:
        return self._ctx

    def start(self, name: str, fn: Callable[[JobContext], Any], *, cancel: CancelToken | None = None,
              on_cancel: Callable[[], None] | None = None) -> bool:
        """Start ``fn(ctx)`` in a worker thread; False (nothing started) if a job is running.
        ``cancel``: the token the job's engine objects already hold; ``on_cancel``: called by
        :meth:`cancel` too (a job with its own control)."""
        if self.running:
            return False
        self.name = name
        self._ctx = JobContext(cancel)
        self._on_cancel = on_cancel
        thread = QThread()
        worker = _Worker(fn, self._ctx, self.advice)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # direct: quit() is thread-safe, and the UI thread may be blocked in shutdown()'s wait()
        worker.done.connect(thread.quit, Qt.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self._timer.setInterval(self.min_interval)
        self.started.emit(name)
        registry()._started(self)
        thread.start()
        self._timer.start()
        return True

    def cancel(self) -> bool:
        if self.running and self._ctx is not None:
            self._ctx.cancel.cancel()
            if self._on_cancel is not None:
                self._on_cancel()
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

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the job ends (tests, scripts); its ``finished`` has been emitted then."""
        if not self.running:
            return True
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    def pace(self, cost_ms: float) -> None:
        """Space updates so that drawing them takes at most half of the UI thread's time."""
        self._timer.setInterval(int(min(250, max(self.min_interval, 2 * cost_ms))))

    def _poll(self) -> None:
        if self._ctx is None:
            return
        items, prog = self._ctx.take()
        if prog is not None:
            self.progress.emit(*prog)
        if items:
            self.items.emit(items)
        self.tick.emit()

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._timer.stop()
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        thread.wait()
        self._poll()
        self._ctx = None
        self._on_cancel = None
        status, message, result = worker.status, worker.message, worker.result
        worker.deleteLater()
        thread.deleteLater()
        registry()._ended(self, status)
        self.finished.emit(self.name, status, message, result)


class _LoadSignals(QObject):
    done = Signal(object, object, str)        # the _Load, result, error message ("" if none)


class _Load(QRunnable):
    def __init__(self, fn: Callable[[], Any], callback, signals: _LoadSignals, quiet: bool):
        super().__init__()
        self.setAutoDelete(False)             # the Loader keeps it until it has answered
        self.fn, self.callback, self.signals, self.quiet = fn, callback, signals, quiet
        self.started = False

    def run(self) -> None:
        self.started = True
        result, error = None, ""
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - reported, never raised in a pool thread
            status, error = error_message(exc, "free some memory")
            if self.quiet or status == "cancelled":
                error = error.splitlines()[0] if error else "cancelled"
        finally:
            # counted here, not by the Loader: a load whose Loader is gone still ends
            try:
                registry()._load_finished.emit()
            except RuntimeError:  # the registry is gone: the app is closing
                pass
        try:
            self.signals.done.emit(self, result, error)
        except RuntimeError:      # the app is closing: nobody to tell
            pass


class Loader(QObject):
    """Small background loads (model lists and pictures, gallery files, example thumbnails, data
    sets, previews): ``submit(fn, done)`` runs ``fn()`` in a pool thread (one at a time, in
    order) and calls ``done(result, error)`` in the UI thread, ``error`` being "" or the message
    :func:`error_message` gives (its first line when ``quiet``)."""

    def __init__(self, parent=None, threads: int = 1):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _LoadSignals(self)
        self._signals.done.connect(self._done)
        self._outstanding: list[_Load] = []

    def submit(self, fn: Callable[[], Any], done: Callable[[Any, str], None] | None = None,
               quiet: bool = True) -> None:
        load = _Load(fn, done, self._signals, quiet)
        self._outstanding.append(load)
        registry()._load(+1)
        self._pool.start(load)

    def _done(self, load: _Load, result, error: str) -> None:
        if load in self._outstanding:
            self._outstanding.remove(load)
        if load.callback is not None:
            load.callback(result, error)

    def clear(self) -> None:
        """Drop the loads not started yet."""
        self._pool.clear()
        dropped = [x for x in self._outstanding if not x.started]
        self._outstanding = [x for x in self._outstanding if x.started]
        registry()._load(-len(dropped))

    def wait(self, ms: int = 10000) -> bool:
        return self._pool.waitForDone(ms)


def start_thread(target: Callable[[], Any], name: str) -> threading.Thread:
    """Start a plain daemon thread that the job registry counts as background work while it runs
    (so the GUI-thread garbage collector guards it, see :mod:`studio.app.gcguard`). For work with
    its own signalling; prefer :class:`JobRunner` (progress, cancel, messages) or :class:`Loader`."""
    reg = registry()

    def run() -> None:
        try:
            target()
        finally:
            reg._load_finished.emit()
    reg._load(+1)
    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread

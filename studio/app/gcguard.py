"""Run Python's cyclic garbage collector on the GUI thread only.

An automatic collection runs in whichever thread happens to allocate. If a worker thread (a
sampling run, a model listing) collects a reference cycle that holds Qt widgets, their C++
destructors run off the GUI thread while it holds the GIL and Qt's object mutexes: the GUI thread
waiting for one and the worker for the other deadlock (seen with PySide6 6.12). So while the app
runs a background job, automatic collection is off and a timer on the GUI thread collects instead.

When no job runs (no worker thread, no background load: the job service's registry says so), the
timer stops and automatic collection comes back, since the GUI thread is then the only one that
allocates: an idle window does not wake up at all.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_TICK_MS = 250


class MainThreadGC(QObject):
    """Collect on a GUI-thread timer: young objects every tick, older generations less often."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ticks = 0
        self._stopped = False
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.setInterval(_TICK_MS)
        self._timer.timeout.connect(self._tick)
        from .jobs import registry
        self._jobs = registry()
        self._jobs.changed.connect(self._jobs_changed)
        self._jobs_changed()

    @property
    def guarding(self) -> bool:
        return self._timer.isActive()

    def _jobs_changed(self) -> None:
        if self._stopped:
            return
        if self._jobs.busy():
            if not self._timer.isActive():
                gc.disable()
                self._timer.start()
        elif self._timer.isActive():
            self._timer.stop()
            gc.collect(0)
            gc.enable()

    def _tick(self) -> None:
        self._ticks += 1
        if self._ticks % 80 == 0:        # every 20 s
            gc.collect(2)
        elif self._ticks % 8 == 0:       # every 2 s
            gc.collect(1)
        else:
            gc.collect(0)

    def stop(self) -> None:
        """Collect once more here, then give collection back to the interpreter."""
        self._stopped = True
        self._timer.stop()
        try:
            self._jobs.changed.disconnect(self._jobs_changed)
        except (RuntimeError, TypeError):
            pass
        gc.collect()
        if self._was_enabled:
            gc.enable()


_guard: MainThreadGC | None = None


def install(app) -> MainThreadGC:
    """Install the guard once for the application (idempotent)."""
    global _guard
    if _guard is None:
        _guard = MainThreadGC(app)
    return _guard


def uninstall() -> None:
    global _guard
    if _guard is not None:
        _guard.stop()
        _guard.deleteLater()
        _guard = None

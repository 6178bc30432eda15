"""Run Python's cyclic garbage collector on the GUI thread only.

An automatic collection runs in whichever thread happens to allocate. If a worker thread (a
sampling run, a model listing) collects a reference cycle that holds Qt widgets, their C++
destructors run off the GUI thread while it holds the GIL and Qt's object mutexes: the GUI thread
waiting for one and the worker for the other deadlock (seen with PySide6 6.12). So while the app
runs, automatic collection is off and a timer on the GUI thread collects instead.
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
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(_TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

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
        self._timer.stop()
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

"""Rendering results to image files (PNG) with pyqtgraph, headless.

This package may import Qt; ``studio.core`` never does. The CLI and the app draw the same figures
through it, so ``studio compare``'s PNGs are the app's plots.
"""
from __future__ import annotations

import os
import sys

_PINNED = False


def pin_none() -> None:
    """Work around PySide6 6.12 on CPython < 3.12: every Qt method returning void drops one
    reference to ``None`` (3.12 made None immortal, so it goes unnoticed there), and after a few
    thousand calls - e.g. pyqtgraph exporting a scatter plot point by point - the interpreter
    aborts with "none_dealloc: deallocating None". Adding a huge reference count to None makes it
    effectively immortal, as it is on 3.12. Harmless elsewhere; does nothing on 3.12+."""
    global _PINNED
    if _PINNED or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    import ctypes

    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    _PINNED = True


def ensure_app():
    """A QApplication for offscreen rendering (the offscreen platform when there is no display)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    pin_none()
    import pyqtgraph as pg

    return pg.mkQApp()

"""Work around a reference-counting defect of some PySide6 builds on CPython < 3.12.

PySide6 6.12's abi3 wheels return ``None`` (and, in places, ``True``/``False``) from methods without
taking a new reference. On CPython 3.12+ these objects are immortal (PEP 683), so that is harmless;
on 3.11 every such call (``update()``, ``setPen()``, ``resetTransform()``, ...) lowers the
singleton's reference count by one, and after a few hundred thousand calls — seconds of a live
view redrawing — the interpreter aborts with "Fatal Python error: none_dealloc".

:func:`protect_singletons` detects the defect (a void Qt call must not change ``None``'s count)
and, only then, raises the counts of the singletons by 2**40: what immortality does on 3.12,
enough for years of leaked decrements. Nothing else changes.
"""
from __future__ import annotations

import sys

HEADROOM = 1 << 40
_done = False


def defect_present() -> bool:
    from PySide6.QtCore import QObject
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        obj.setObjectName("probe")
    return sys.getrefcount(None) < before - 32


def protect_singletons() -> bool:
    """Apply the workaround if needed; True if it was applied (once per process)."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not defect_present():
        return False
    import ctypes
    for obj in (None, True, False, Ellipsis, NotImplemented):
        ctypes.c_ssize_t.from_address(id(obj)).value += HEADROOM  # ob_refcnt is the first field
    _done = True
    return True

"""Whole-window screenshots of every workspace (docs and tests): the window as a new user sees it
at a given size, one PNG per workspace, ``<prefix><name>.png``."""
from __future__ import annotations

import os
import time

#: the size the docs and the tests take the screenshots at (a small laptop screen)
SIZE = (1280, 800)


def pump(app, seconds: float) -> None:
    end = time.time() + seconds
    while True:
        app.processEvents()
        if time.time() >= end:
            return
        time.sleep(0.01)


def grab_workspaces(win, out_dir: str, size=SIZE, prefix: str = "workspace-",
                    settle: float = 0.2) -> dict[str, str]:
    """Show each workspace of ``win`` in turn at ``size``, save the whole window; name -> path."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    os.makedirs(out_dir, exist_ok=True)
    win.resize(*size)
    out = {}
    before = win.workspaces.current
    for name in list(win.workspaces.order):
        win.workspaces.show(name)
        pump(app, settle)
        path = os.path.join(out_dir, f"{prefix}{name}.png")
        if not win.grab().save(path):
            raise OSError(f"cannot write {path}")
        out[name] = path
    if before:
        win.workspaces.show(before)
    return out


def clipped(root) -> list[str]:
    """Visible buttons and labels under ``root`` narrower than their text needs, with no tooltip
    to read the rest (what a new user sees as "Open c…tories"): one line per offender."""
    from PySide6.QtWidgets import QAbstractButton, QLabel

    from .elide import ElidedLabel

    out = []
    for w in root.findChildren(QAbstractButton) + root.findChildren(QLabel):
        if not w.isVisibleTo(root) or not w.isVisible() or w.width() <= 1:
            continue
        if isinstance(w, QLabel):
            if w.wordWrap() or isinstance(w, ElidedLabel) or w.toolTip() or not w.text():
                continue
            if w.pixmap() is not None and not w.pixmap().isNull():
                continue
            need = w.minimumSizeHint().width()
        else:
            if not w.text():
                continue
            need = w.sizeHint().width()
        if w.width() + 2 < need:
            out.append(f"{type(w).__name__} {w.text()[:40]!r}: {w.width()} px of {need}")
    out += _clipped_combos(root) + _cut_by_scroll_areas(root)
    return out


def _clipped_combos(root) -> list[str]:
    """Combo boxes narrower than their choice with no tooltip to read it."""
    from PySide6.QtWidgets import QComboBox
    return [f"QComboBox {c.currentText()[:40]!r}: {c.width()} px of {c.sizeHint().width()}"
            for c in root.findChildren(QComboBox)
            if c.isVisible() and c.width() + 2 < c.sizeHint().width() and not c.toolTip()]


def _cut_by_scroll_areas(root) -> list[str]:
    """Controls that reach past the right edge of a scroll area that cannot scroll sideways."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QScrollArea

    out = []
    for area in root.findChildren(QScrollArea):
        if not area.isVisible() or area.horizontalScrollBarPolicy() != Qt.ScrollBarAlwaysOff:
            continue
        inner = area.widget()
        if inner is None:
            continue
        right = area.viewport().width()
        for w in inner.findChildren(QAbstractButton) + inner.findChildren(QComboBox) \
                + inner.findChildren(QLineEdit):
            if not w.isVisible() or w.parent() is None:
                continue
            edge = w.mapTo(area.viewport(), QPoint(w.width(), 0)).x()
            if edge > right + 2:
                out.append(f"{type(w).__name__} {w.objectName() or w.toolTip()[:30]!r}: ends at "
                           f"{edge} px, its scroll area shows {right}")
    return out

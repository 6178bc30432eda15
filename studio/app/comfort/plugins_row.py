"""The Settings dialog's "Plugins" row: the user plugin folder (see ``studio.core.user_plugins``),
what was loaded from it and from entry points, and a button that opens the folder."""
from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


def plugins_summary() -> tuple[str, str]:
    """(the plugin folder, a one-line summary with the failures' errors as its tooltip)."""
    from ...core.user_plugins import plugin_dir, records
    recs = records()
    ok = [r for r in recs if r.ok]
    bad = [r for r in recs if not r.ok]
    text = f"{len(ok)} loaded" + (f", {len(bad)} failed" if bad else "")
    tip = "\n".join(f"{r.name} ({r.location}): {r.error}" for r in bad)
    return str(plugin_dir()), text + ("" if not tip else "\n" + tip)


def plugins_row(parent=None) -> QWidget:
    folder, summary = plugins_summary()
    first, _, errors = summary.partition("\n")
    w = QWidget(parent)
    w.setObjectName("pluginsRow")
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"{folder}  ({first}; restart to load new ones)")
    label.setObjectName("pluginsFolder")
    label.setWordWrap(True)
    label.setToolTip("Python files here (and the entry-point group diffusion_studio.plugins) "
                     "register solvers, processes, guidance... See docs/PLUGINS.md."
                     + ("\n\nFailed:\n" + errors if errors else ""))
    button = QPushButton("Open folder")

    def _open():
        from pathlib import Path
        Path(folder).mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(folder))
    button.clicked.connect(_open)
    lay.addWidget(label, 1)
    lay.addWidget(button)
    return w

"""The Diagnostics workspace (2-D models: likelihood, log-density, curl, density evolution) and its
Tools menu entry."""
from __future__ import annotations

from PySide6.QtGui import QAction


def install(window) -> None:
    def build():
        from ..diagnostics.panel import DiagnosticsPanel
        return DiagnosticsPanel(window)

    dock = window.add_workspace("diagnostics", "Diagnostics", build, docks=("browser",),
                                tip="NLL of a data set, log-density, conservativity, density "
                                    "evolution of the pipeline's model")
    window.diagnostics = dock.later()                   # built when first shown or read
    act = QAction("&Likelihood && diagnostics", window)
    act.setShortcut("Ctrl+Shift+D")
    act.setToolTip("NLL of a data set, log-density, conservativity, density evolution")

    def show():
        dock.show()
        dock.raise_()

    act.triggered.connect(show)
    window.add_menu_action("&Tools", act)

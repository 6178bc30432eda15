"""The Diagnostics workspace (2-D models: likelihood, log-density, curl, density evolution) and its
Tools menu entry."""
from __future__ import annotations

from PySide6.QtGui import QAction


def install(window) -> None:
    from ..diagnostics.panel import DiagnosticsPanel

    panel = DiagnosticsPanel(window)
    window.diagnostics = panel
    dock = window.add_workspace("diagnostics", "Diagnostics", panel, docks=("browser",),
                                tip="NLL of a data set, log-density, conservativity, density "
                                    "evolution of the pipeline's model")
    act = QAction("&Likelihood && diagnostics", window)
    act.setShortcut("Ctrl+Shift+D")
    act.setToolTip("NLL of a data set, log-density, conservativity, density evolution")

    def show():
        dock.show()
        dock.raise_()

    act.triggered.connect(show)
    window.add_menu_action("&Tools", act)

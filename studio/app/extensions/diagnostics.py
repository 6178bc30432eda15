"""Tools: the Likelihood & diagnostics panel (2-D models: log-density, curl, density evolution),
docked beside the trajectory view."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction


def install(window) -> None:
    from ..diagnostics.panel import DiagnosticsPanel

    panel = DiagnosticsPanel(window)
    window.diagnostics = panel
    dock = window.add_panel("diagnostics", "Diagnostics", panel,
                            Qt.BottomDockWidgetArea, tabify_with="trajectories")
    act = QAction("&Likelihood && diagnostics", window)
    act.setShortcut("Ctrl+Shift+D")
    act.setToolTip("NLL of a data set, log-density, conservativity, density evolution")

    def show():
        dock.show()
        dock.raise_()

    act.triggered.connect(show)
    window.add_menu_action("&Tools", act)

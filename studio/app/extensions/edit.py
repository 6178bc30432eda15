"""The Edit workspace (invert points, change the label, regenerate): a dock; Tools > Edit."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction


def install(window) -> None:
    from ..edit_panel import EditPanel

    panel = EditPanel()
    dock = window.add_panel("edit", "Edit", panel, Qt.BottomDockWidgetArea,
                            tabify_with="trajectories")
    window.edit_panel = panel

    def show() -> None:
        dock.show()
        dock.raise_()

    action = QAction("&Edit by inversion", window)
    action.setToolTip("Invert points to noise, change the label, regenerate from the same noise")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(show)
    window.add_menu_action("&Tools", action)
    window.edit_action = action

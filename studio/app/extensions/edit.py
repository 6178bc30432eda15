"""The Edit workspace (invert points or a digit image, change the label, regenerate): a dock with
two tabs; Tools > Edit by inversion."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QTabWidget


def install(window) -> None:
    from ..edit_digits import DigitEditPanel
    from ..edit_panel import EditPanel

    panel, digits = EditPanel(), DigitEditPanel()
    tabs = QTabWidget()
    tabs.addTab(panel, "Points (mixture prior)")
    tabs.addTab(digits, "Digit image (trained model)")
    dock = window.add_panel("edit", "Edit", tabs, Qt.BottomDockWidgetArea,
                            tabify_with="trajectories")
    window.edit_panel, window.edit_digits = panel, digits

    def show() -> None:
        dock.show()
        dock.raise_()

    action = QAction("&Edit by inversion", window)
    action.setToolTip("Invert points to noise, change the label, regenerate from the same noise")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(show)
    window.add_menu_action("&Tools", action)
    window.edit_action = action

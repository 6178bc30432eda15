"""The Inverse problems workspace (a page of the main window); Tools > Inverse problems."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction


class _CloseWatcher(QObject):
    """Stops the panel's run when the main window closes (its worker thread must not outlive it)."""

    def __init__(self, panel, parent):
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Close:
            self.panel.shutdown()
        return False


def install(window) -> None:
    def build():
        from ..inverse.panel import InversePanel

        panel = InversePanel()
        panel.controller.started.connect(lambda _info: page.show())   # results come forward
        panel.message.connect(window.log.add)
        panel.problem.connect(window.report)
        window.installEventFilter(_CloseWatcher(panel, window))
        return panel

    page = window.add_workspace("inverse", "Inverse problems", build,
                                tip="Inpainting, super-resolution, deblurring… with a diffusion "
                                    "prior")
    window.inverse_panel = page.later()                 # built when first shown or read

    def show() -> None:
        page.show()

    action = QAction("&Inverse problems", window)
    action.setToolTip("Inpainting, super-resolution, deblurring… with a diffusion prior")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(show)
    window.add_menu_action("&Tools", action)
    window.inverse_action = action

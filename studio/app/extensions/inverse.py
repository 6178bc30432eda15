"""The inverse-problems workspace: a dock tabbed with the trajectories; Tools > Inverse problems."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction

#: the size the workspace floats out at when its dock is too narrow for it
ROOMY = (1400, 800)


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
    from ..inverse.panel import InversePanel

    panel = InversePanel()
    dock = window.add_panel("inverse", "Inverse problems", panel, Qt.BottomDockWidgetArea,
                            tabify_with="trajectories")
    panel.message.connect(window.log.add)
    panel.problem.connect(window.report)
    window.inverse_panel = panel

    def show() -> None:
        dock.show()
        dock.raise_()
        if not dock.isFloating() and dock.width() < ROOMY[0] - 200:
            # three columns (problem, methods, results) need room: a narrow dock floats out
            dock.setFloating(True)
            screen = window.screen().availableGeometry() if window.screen() else None
            w, h = ROOMY
            if screen is not None:
                w, h = min(w, screen.width() - 40), min(h, screen.height() - 60)
            dock.resize(w, h)
            dock.move(window.geometry().center() - dock.rect().center())

    action = QAction("&Inverse problems", window)
    action.setToolTip("Inpainting, super-resolution, deblurring… with a diffusion prior")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(show)
    window.add_menu_action("&Tools", action)
    window.inverse_action = action
    watcher = _CloseWatcher(panel, window)
    window.installEventFilter(watcher)

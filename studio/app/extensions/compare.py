"""Tools: the Comparison workspace and the Likelihood & diagnostics panel, docked beside the
trajectory view."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction


def _show(dock) -> None:
    dock.show()
    dock.raise_()


def install(window) -> None:
    from ..compare.workspace import CompareWorkspace

    ws = CompareWorkspace(window)
    window.compare = ws
    dock = window.add_panel("compare", "Comparison", ws, Qt.BottomDockWidgetArea,
                            tabify_with="trajectories")
    act = QAction("&Comparison workspace", window)
    act.setShortcut("Ctrl+Shift+C")
    act.setToolTip("Compare solvers, schedules and NFE budgets from the same noise")
    act.triggered.connect(lambda: _show(dock))
    window.add_menu_action("&Tools", act)

    def compare_pipeline():
        ws.setup.from_document()
        _show(dock)

    act = QAction("Compare the pipeline's &solvers", window)
    act.setToolTip("Fill the comparison with the current pipeline's solvers, seed and batch")
    act.triggered.connect(compare_pipeline)
    window.add_menu_action("&Tools", act)

    def open_comparison():
        _show(dock)
        ws.open_dialog()

    act = QAction("&Open comparison…", window)
    act.triggered.connect(open_comparison)
    window.add_menu_action("&Tools", act)

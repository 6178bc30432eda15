"""The Comparison workspace (a page of the main window) and its Tools menu entries."""
from __future__ import annotations

from PySide6.QtGui import QAction


def _show(dock) -> None:
    dock.show()
    dock.raise_()


def install(window) -> None:
    def build():
        from ..compare.workspace import CompareWorkspace

        ws = CompareWorkspace(window)
        ws.session.runner.started.connect(lambda _name: dock.show())   # the grid comes forward
        return ws

    dock = window.add_workspace("compare", "Comparison", build,
                                tip="Compare solvers, schedules and NFE budgets from the same noise")
    window.compare = dock.later()                       # built when first shown or read
    act = QAction("&Comparison workspace", window)
    act.setShortcut("Ctrl+Shift+C")
    act.setToolTip("Compare solvers, schedules and NFE budgets from the same noise")
    act.triggered.connect(lambda: _show(dock))
    window.add_menu_action("&Tools", act)

    def compare_pipeline():
        window.compare.setup.from_document()
        _show(dock)

    act = QAction("Compare the pipeline's &solvers", window)
    act.setToolTip("Fill the comparison with the current pipeline's solvers, seed and batch")
    act.triggered.connect(compare_pipeline)
    window.add_menu_action("&Tools", act)

    def open_comparison():
        _show(dock)
        window.compare.open_dialog()

    act = QAction("&Open comparison…", window)
    act.triggered.connect(open_comparison)
    window.add_menu_action("&Tools", act)

"""The flow-map jump view (Tools menu): arrows x_t -> Phi(x_t, t, s) of the current pipeline's
2-D network, with sliders for t and s (studio/app/jumpmap.py)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction

from ...core.errors import StudioError


def install(window) -> None:
    act = QAction("Flow-map &jumps (2-D)", window)
    act.setToolTip("Arrows from x_t to Phi(x_t, t, s) for the pipeline's 2-D flow map")

    def show() -> None:
        from ..jumpmap import JumpMapView
        try:
            built = window.doc.to_pipeline().build()
        except StudioError as exc:
            window.report("Cannot show the jump map", str(exc))
            return
        view = getattr(window, "jump_map", None)
        if view is None:
            view = window.jump_map = JumpMapView(window)
            view.setWindowFlags(Qt.Window)
            view.resize(640, 640)
        view.set_pipeline(built)
        view.show()
        view.raise_()

    act.triggered.connect(show)
    window.add_menu_action("&Tools", act)

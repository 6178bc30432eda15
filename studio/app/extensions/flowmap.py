"""Flow maps in the app (Tools menu): the jump view (arrows x_t -> Phi(x_t, t, s) of the current
pipeline's 2-D network, with sliders for t and s; studio/app/jumpmap.py), and "Use this pipeline
as the training teacher", which puts the saved pipeline on the canvas into the Training panel's
objective.teacher (flow-map distillation; a library model can be typed there as
assets:NAME.safetensors or chosen as a file)."""
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
        view = window.jump_map
        if view is None:
            view = window.jump_map = JumpMapView(window)
            view.setWindowFlags(Qt.Window)
            view.resize(640, 640)
        view.set_pipeline(built)
        view.show()
        view.raise_()

    act.triggered.connect(show)
    window.add_menu_action("&Tools", act)

    teach = QAction("Use this pipeline as the training &teacher", window)
    teach.setToolTip("Flow-map distillation: the saved pipeline (network + process + ODE solver) "
                     "becomes objective.teacher in the Training panel")

    def use_as_teacher() -> None:
        panel = window.training_panel
        doc = window.doc
        if panel is None:
            return
        if not doc.path or not doc.undo_stack.isClean():
            window.report("Cannot use the pipeline as a teacher",
                          "save the pipeline first: the teacher is read from its file")
            return
        form = panel.settings.objective
        values = form.values()
        values["teacher"] = doc.path
        form.set_values(values)
        form.changed.emit()
        window.log.info(f"training teacher: {doc.path}")
        window.workspaces.show("training")

    teach.triggered.connect(use_as_teacher)
    window.add_menu_action("&Tools", teach)

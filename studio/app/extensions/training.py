"""The Training workspace (a page of the main window) and a Tools menu entry. A finished model lands in the user's model library; the model browser then lists it again
and selects it, and "Use in pipeline" makes it the pipeline's network."""
from __future__ import annotations

import json

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction

from ...core.errors import StudioError

SETTINGS_KEY = "training/last-config"


class _CloseGuard(QObject):
    """Stops a running training before the window closes (its worker thread must not outlive
    the window)."""

    def __init__(self, window, panel):
        super().__init__(window)
        self.window, self.panel = window, panel

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() == QEvent.Close and self.panel.controller.running:
            self.window.log.info("stopping the training…")
            if not self.panel.shutdown():
                self.window.log.error("the training did not stop in time")
        return False


def install(window) -> None:
    def build():
        from ..training.panel import TrainingPanel

        panel = TrainingPanel()
        panel.started.connect(lambda _cfg: dock.show())     # the training's views come forward
        panel.message.connect(window.log.add)
        panel.problem.connect(window.report)
        panel.useRequested.connect(window.use_model)

        def saved(path: str) -> None:
            browser = window.browser

            def select() -> None:
                browser.model.listed.disconnect(select)
                browser.select_file(path)
            browser.model.listed.connect(select)
            browser.refresh()
        panel.modelSaved.connect(saved)

        # the settings of the last training come back in the next session
        last = window.settings.value(SETTINGS_KEY)
        if isinstance(last, str) and last:
            try:
                panel.settings.set_dict(json.loads(last))
            except (ValueError, TypeError, KeyError, StudioError):
                pass        # from an older version, or a data folder that is gone: the preset stays
        panel.started.connect(lambda cfg: window.settings.set_value(SETTINGS_KEY, json.dumps(cfg)))
        window.installEventFilter(_CloseGuard(window, panel))
        return panel

    dock = window.add_workspace("training", "Training", build, docks=("browser",),
                                tip="Train a model on 2-D data, digits or your images")
    window.training_panel = dock.later()                # built when first shown or read

    def show() -> None:
        dock.show()
        dock.raise_()
        window.training_panel.setFocus()

    action = QAction("&Train a model…", window)
    action.setToolTip("Open the training panel: train a model on 2-D data, digits or your images")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(show)
    window.add_menu_action("&Tools", action)

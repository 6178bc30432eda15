"""Diffusers folders: opening one from the model browser also sets the matching process node."""
from __future__ import annotations


def install(window) -> None:
    from PySide6.QtCore import QTimer

    from ..diffusers_ui import on_use

    # queued: runs after the window's own use_model has put the network in place
    window.browser.useRequested.connect(
        lambda entry: QTimer.singleShot(0, window, lambda: on_use(window, entry)))

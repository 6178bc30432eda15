"""The Edit workspace (invert points or a digit image, change the label, regenerate): a dock with
two tabs; Tools > Edit by inversion."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QTabWidget

from ..workspaces import Later


def install(window) -> None:
    made: dict = {}

    def build():
        from ..edit_digits import DigitEditPanel
        from ..edit_panel import EditPanel

        panel, digits = EditPanel(), DigitEditPanel()
        tabs = QTabWidget()
        tabs.addTab(panel, "Points (mixture prior)")
        tabs.addTab(digits, "Digit image (trained model)")
        made.update(tabs=tabs, panel=panel, digits=digits)
        window.edit_panel, window.edit_digits = panel, digits
        return tabs

    dock = window.add_panel("edit", "Edit", build, Qt.BottomDockWidgetArea,
                            tabify_with="trajectories")
    def built(name: str):
        """One of the page's panels, building the page first (None if it failed to build)."""
        dock.widget()
        return made.get(name)

    # built when the page is first shown or one of them is read
    window.edit_panel = Later(lambda: built("panel"))
    window.edit_digits = Later(lambda: built("digits"))

    def show() -> None:
        dock.show()
        dock.raise_()

    if window.comfort is not None:      # a gallery picture's samples start an edit
        window.comfort.gallery.editRequested.connect(
            lambda item: window.edit_panel is not None and open_gallery_item(
                window, made["tabs"], made["panel"], made["digits"], item))

    action = QAction("&Edit by inversion", window)
    action.setToolTip("Invert points to noise, change the label, regenerate from the same noise")
    action.setStatusTip(action.toolTip())
    action.triggered.connect(show)
    window.add_menu_action("&Tools", action)
    window.edit_action = action


def open_gallery_item(window, tabs, panel, digits, item) -> bool:
    """Start the Edit workspace from a gallery picture: its saved samples (2-D points, or its
    first 8x8 digit with the label it was generated for), and the page comes forward."""
    from ...core.errors import StudioError
    from ...core.pngmeta import read_pipeline

    try:
        samples = item.load_samples()
        pipeline = read_pipeline(item.path)
        nodes = pipeline.get("nodes") or {}
        if samples.ndim == 2 and samples.shape[1] == 2:
            net = next((n for n in nodes.values() if n.get("type") == "network"), {})
            prior = net.get("params") if net.get("kind") == "gmm" else None
            panel.use_points(samples, f"gallery picture {item.name}", prior)
            tabs.setCurrentWidget(panel)
        else:
            labels = (pipeline.get("run") or {}).get("labels")
            label = labels[0] if isinstance(labels, list) and labels else labels
            digits.use_image(samples[0], f"gallery picture {item.name}",
                             label if isinstance(label, int) else None)
            tabs.setCurrentWidget(digits)
    except StudioError as exc:
        window.log.error(f"cannot edit {item.name}: {exc}")
        return False
    window.workspaces.show("edit")
    return True

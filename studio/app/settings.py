"""Persistent app settings (QSettings): window layout, recent files, model folders."""
from __future__ import annotations

import os

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 8
LAYOUT_VERSION = 1


class AppSettings:
    def __init__(self, qsettings: QSettings | None = None):
        self.q = qsettings if qsettings is not None else QSettings()

    def _list(self, key: str) -> list[str]:
        value = self.q.value(key, [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(v) for v in (value or [])]

    # recent files
    def recent_files(self) -> list[str]:
        return self._list("recent")

    def add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        items = [path] + [p for p in self.recent_files() if p != path]
        self.q.setValue("recent", items[:MAX_RECENT])

    def clear_recent(self) -> None:
        self.q.setValue("recent", [])

    # model folders added by the user
    def model_folders(self) -> list[str]:
        return self._list("models/folders")

    def add_model_folder(self, folder: str) -> None:
        items = self.model_folders()
        if folder not in items:
            self.q.setValue("models/folders", items + [folder])

    # window layout
    def save_layout(self, window) -> None:
        self.q.setValue("window/geometry", window.saveGeometry())
        self.q.setValue("window/state", window.saveState(LAYOUT_VERSION))
        self.q.setValue("window/docks", ",".join(sorted(window.docks)))
        self.q.sync()

    def restore_layout(self, window) -> bool:
        geom, state = self.q.value("window/geometry"), self.q.value("window/state")
        ok = False
        if isinstance(geom, QByteArray) and not geom.isEmpty():
            ok = window.restoreGeometry(geom)
        # A layout saved with another set of panels (an upgrade added a workspace) would strand
        # the new panels side by side; keep the default arrangement then.
        same_docks = self.q.value("window/docks") == ",".join(sorted(window.docks))
        if isinstance(state, QByteArray) and not state.isEmpty() and same_docks:
            ok = window.restoreState(state, LAYOUT_VERSION) and ok
        return ok

    def value(self, key: str, default=None):
        return self.q.value(key, default)

    def set_value(self, key: str, value) -> None:
        self.q.setValue(key, value)

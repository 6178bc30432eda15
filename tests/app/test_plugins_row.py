"""Settings shows the user plugin folder and what was loaded (failures with their errors)."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel

from studio.core import user_plugins


def test_settings_show_the_plugin_folder_and_failures(win, tmp_path, monkeypatch):
    (tmp_path / "bad.py").write_text("raise ValueError('nope')\n")
    monkeypatch.setenv("STUDIO_PLUGIN_DIR", str(tmp_path))
    monkeypatch.setattr(user_plugins, "_records", [])
    user_plugins.load_external(force=True)
    win.comfort.settings_action.trigger()
    dlg = win.comfort.settings_dialog
    label = dlg.findChild(QLabel, "pluginsFolder")
    assert label is not None and str(tmp_path) in label.text() and "1 failed" in label.text()
    assert "ValueError: nope" in label.toolTip()
    dlg.reject()

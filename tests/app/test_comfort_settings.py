"""Settings dialog: device, precision, model library folder, preview rate, theme (live); saved in
the app settings and applied at the next start."""
from __future__ import annotations

import os

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication


@pytest.fixture
def restore_theme():
    yield
    from studio.app.comfort.theme import apply_theme
    apply_theme("dark")


def window_lightness() -> int:
    return QApplication.palette().color(QPalette.Window).lightness()


def open_dialog(win):
    win.comfort.settings_action.trigger()
    dlg = win.comfort.settings_dialog
    assert dlg is not None and dlg.isVisible()
    return dlg


def test_settings_apply_live_persist_and_apply_at_start(win, qtbot, settings, tmp_path,
                                                         monkeypatch, restore_theme):
    monkeypatch.delenv("STUDIO_MODELS_DIR", raising=False)   # restored after the test
    from studio.app.comfort import prefs
    monkeypatch.setattr(prefs, "_ENV_LIBRARY", None)
    monkeypatch.setattr(prefs, "_APPLIED", None)
    assert window_lightness() < 100                          # dark
    dlg = open_dialog(win)                                   # Cancel puts the theme back
    dlg.theme.setCurrentIndex(dlg.theme.findData("light"))
    assert window_lightness() > 200
    dlg.reject()
    assert window_lightness() < 100 and prefs.Preferences.load(win.settings).theme == "dark"
    dlg = open_dialog(win)
    dlg.theme.setCurrentIndex(dlg.theme.findData("light"))
    assert window_lightness() > 200                          # live, before OK
    dlg.dtype.setCurrentText("float32")
    dlg.fps.setValue(10)
    library = tmp_path / "my-models"
    dlg.library.setText(str(library))
    with qtbot.waitSignal(win.browser.model.listed, timeout=30000):
        dlg.accept()
    assert window_lightness() > 200
    assert win.controller.min_interval == 100
    assert os.environ["STUDIO_MODELS_DIR"] == str(library)
    assert str(library) in win.browser.folder_label.text()
    # the untouched default pipeline took the new precision, without becoming an edit
    assert win.doc.run.dtype == "float32" and win.doc.undo_stack.isClean()
    win.doc.set_run("dtype", "float64")
    win.new_action.trigger()                                 # File > New
    assert win.doc.run.dtype == "float32" and win.toolbar.dtype.currentText() == "float32"
    # the trained-model library follows the setting
    from studio.core import library as lib
    assert lib.user_dir() == library

    # saved, and applied at the next start
    from studio.app.comfort.theme import apply_theme
    apply_theme("dark")
    monkeypatch.delenv("STUDIO_MODELS_DIR", raising=False)
    from studio.app.mainwindow import MainWindow
    w2 = MainWindow(settings)
    w2.ask_to_save = False
    w2.show_dialogs = False
    qtbot.addWidget(w2)
    assert window_lightness() > 200
    assert w2.doc.run.dtype == "float32" and w2.controller.min_interval == 100
    assert os.environ["STUDIO_MODELS_DIR"] == str(library)
    # clearing the folder puts the default library back
    dlg = open_dialog(w2)
    dlg.library.setText("")
    dlg.accept()
    assert "STUDIO_MODELS_DIR" not in os.environ
    assert prefs.Preferences.load(w2.settings).library == ""
    w2.close()


def test_unavailable_device_falls_back_to_cpu(qtbot, settings):
    settings.setValue("preferences/device", "cuda:7")
    from studio.app.mainwindow import MainWindow
    w = MainWindow(settings)
    w.ask_to_save = False
    qtbot.addWidget(w)
    assert w.doc.run.device == "cpu"
    assert any("cuda:7" in text for _, _, text in w.log.entries)
    w.close()

"""Main window: layout persistence, model browser, recent files, drops, automation (studio gui)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from studio.core import catalog


def test_layout_persists_between_runs(qtbot, settings):
    from studio.app.mainwindow import MainWindow
    w = MainWindow(settings)
    w.ask_to_save = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.docks["log"].hide()
    w.docks["inspector"].setFloating(True)
    w.close()
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.show()
    qtbot.waitExposed(w2)
    assert not w2.docks["log"].isVisible()
    assert w2.docks["inspector"].isFloating()
    w2.reset_layout()
    assert w2.docks["log"].isVisible() and not w2.docks["inspector"].isFloating()
    w2.ask_to_save = False
    w2.close()


def test_browser_lists_models_and_uses_one(win, qtbot):
    names = [e.name for e in win.browser.model.entries]
    assert {"eight-gaussians", "two-moons", "clusters-64d"} <= set(names)
    builtin = [e for e in win.browser.model.entries if e.source == "built-in"]
    assert len([e for e in builtin if e.card()["data_shape"] != [2]]) >= 2
    win.browser.select("two-moons")
    assert "Two moons" in win.browser.card.toPlainText()
    assert "parameterization" in win.browser.card.toPlainText()
    idx = win.browser.model.index_of("two-moons")
    with qtbot.waitSignal(win.browser.useRequested):
        win.browser.list.doubleClicked.emit(idx)
    assert win.doc.nodes["network"].params == catalog.get("two-moons").node["params"]
    assert win.doc.links == [("process", "network"), ("network", "dpm-solver++-2m")]
    win.undo_action.trigger()
    assert win.doc.nodes["network"].params == catalog.get("eight-gaussians").node["params"]
    # density pictures are drawn in the background
    from studio.app import browser
    model = win.browser.model
    first = model.entries[0]
    model.icon(first)
    qtbot.waitUntil(lambda: model.key(first) in browser._PICTURES, timeout=20000)
    assert browser._PICTURES[model.key(first)] is not None
    assert model.icon(first) is not model._blank()


def test_a_new_provider_shows_up(win, qtbot, tmp_path):
    @catalog.provider("test-provider")
    def _extra(folders):
        return [catalog.Entry("test-model", "Test model",
                              {"type": "network", "kind": "gmm", "params": {"means": [[0.0, 1.0]]}},
                              f"folders: {len(folders)}", source="test")]
    try:
        with qtbot.waitSignal(win.browser.model.listed, timeout=60000):
            win.browser.add_folder(str(tmp_path))
        assert str(tmp_path) in win.settings.model_folders()
        names = [e.name for e in win.browser.model.entries]
        assert "test-model" in names
        entry = next(e for e in win.browser.model.entries if e.name == "test-model")
        assert entry.card()["data_shape"] == [1 + 1]
        # a drop of the browser's drag payload adds a network node at the drop point
        mime = win.browser.model.mimeData([win.browser.model.index_of("test-model")])
        pos = QPoint(100, 100)
        ev = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        win.view.dropEvent(ev)
        added = [n for n in win.doc.nodes if n.startswith("network-")]
        assert added and win.doc.nodes[added[0]].params == {"means": [[0.0, 1.0]]}
    finally:
        catalog._PROVIDERS.pop("test-provider", None)


def test_drop_a_pipeline_file_and_recent_files(win, tmp_path):
    data = win.doc.to_dict()
    data["nodes"]["dpm-solver++-2m"]["params"]["steps"] = 3
    path = tmp_path / "dropped.json"
    path.write_text(json.dumps(data))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    ev = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    win.dropEvent(ev)
    assert win.doc.path == str(path)
    assert win.doc.nodes["dpm-solver++-2m"].params["steps"] == 3
    assert win.settings.recent_files()[0] == str(path)
    assert any(a.text() == "dropped.json" for a in win.menus.recent.actions())
    assert "dropped.json" in win.windowTitle()


def test_gui_automation_offscreen(tmp_path):
    """`studio gui PIPELINE --run --screenshot OUT --quit` runs to the end and saves a PNG."""
    pipe = tmp_path / "p.json"
    from studio.app.defaults import default_pipeline
    data = default_pipeline()
    data["run"]["batch"] = 200
    pipe.write_text(json.dumps(data))
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               STUDIO_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run([sys.executable, "-m", "studio", "gui", str(pipe), "--run", "--screenshot",
                        str(out), "--quit"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 20000
    from PySide6.QtGui import QImage
    img = QImage(str(out))
    assert img.width() >= 1000 and img.height() >= 600


def test_gui_automation_malformed_pipeline(qtbot, settings, tmp_path, capsys):
    """A malformed pipeline with --quit: exit code 2 and one line saying what and where."""
    from argparse import Namespace

    from studio.app.main import run_app
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    code = run_app(Namespace(pipeline=str(bad), run=False, screenshot=None, quit=True), settings)
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "not valid JSON" in err


def test_model_files_from_a_folder(win, qtbot, tmp_path):
    """Model files of a folder the user adds are listed with their card; using one runs it."""
    import pytest

    from studio.core.registry import NETWORKS
    if "file" not in NETWORKS:
        pytest.skip("no network kind loads model files")
    models_helpers = pytest.importorskip("tests.core.models_helpers")
    folder = tmp_path / "models"
    folder.mkdir()
    models_helpers.tiny_model_file(folder / "tiny.safetensors")
    with qtbot.waitSignal(win.browser.model.listed, timeout=60000):
        win.browser.add_folder(str(folder))
    entry = next(e for e in win.browser.model.entries if e.name == "tiny")
    assert entry.node == {"type": "network", "kind": "file",
                          "params": {"path": str(folder / "tiny.safetensors")}}
    win.browser.select("tiny")
    card = win.browser.card.toPlainText()
    assert "a tiny test model" in card and "vp-linear" in card and "[2]" in card
    win.use_model(entry)
    assert win.doc.nodes["network"].kind == "file"
    assert win.doc.problem() is None

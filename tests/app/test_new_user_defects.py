"""What a new user hit (issue 10), each fixed: examples are never overwritten, trained models get
a unique name and are the ones selected, the status bar elides its message, no "default: null",
no "at at line", a private self-test folder, an idle window with no timer running."""
from __future__ import annotations

import os
import stat

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from studio.core.errors import PipelineError
from studio.core.pipeline import Pipeline

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLE = os.path.abspath(os.path.join(ROOT, "examples", "inpainting.json"))


def test_save_on_a_shipped_example_is_save_as_into_the_users_folder(win, monkeypatch, tmp_path):
    from studio.app.resources import is_shipped
    assert is_shipped(EXAMPLE) and not is_shipped(str(tmp_path / "mine.json"))
    before = open(EXAMPLE, "rb").read()
    assert win.open_path(EXAMPLE)
    win.doc.set_run("seed", 1234)
    asked = {}

    def dialog(parent, title, start, filters):
        asked["start"] = start
        return str(tmp_path / "mine.json"), filters
    monkeypatch.setattr("studio.app.mainwindow.QFileDialog.getSaveFileName", dialog)
    assert win.save()                                    # Save, not Save As: the dialog came up
    assert open(EXAMPLE, "rb").read() == before          # the example is untouched
    assert not is_shipped(asked["start"]) and "pipelines" in asked["start"]
    assert win.doc.path == str(tmp_path / "mine.json") and win.doc.undo_stack.isClean()
    # the copy still finds the example's data files (copied beside it: a saved pipeline reads
    # nothing outside its folder), and builds
    assert (tmp_path / "inpainting_prior.npy").read_bytes() == open(
        os.path.join(os.path.dirname(EXAMPLE), "inpainting_prior.npy"), "rb").read()
    saved = Pipeline.load(str(tmp_path / "mine.json"))
    assert saved.run.seed == 1234
    saved.build()
    # writing a shipped file directly is refused with a reason
    assert not win.save_to(EXAMPLE)
    assert "never overwritten" in win.log.entries[-1][2]
    assert open(EXAMPLE, "rb").read() == before


def test_a_trained_model_gets_a_unique_name_and_is_the_one_selected(win, qtbot, tmp_path,
                                                                   monkeypatch):
    from studio.core import catalog
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(tmp_path / "library"))
    assert any(e.title == "Two moons" for e in catalog.builtin())
    panel = win.training_panel
    s = panel.settings
    s.apply_preset("Two moons · MLP, eps on VP")
    s.name.setText("Two moons")                     # the title of a built-in model
    s.data.set("moons", {"n": 500})
    s.arch.set("mlp", {"width": 16, "depth": 1, "emb_dim": 8})
    s.budget.set_values({"steps": 6, "batch": 32})
    s.optim.set_values({"warmup": 1})
    s.preview.set_values({"every": 0, "count": 100, "steps": 4})
    with qtbot.waitSignal(panel.controller.finished, timeout=60000) as blocker:
        assert panel.train()
    assert blocker.args[0] == "finished", blocker.args[1]
    assert panel.controller.name == "Two moons (2)"
    assert "is called “Two moons (2)”" in win.log.text()
    assert os.path.basename(panel.session.model_path) == "two-moons-2.safetensors"
    qtbot.waitUntil(lambda: win.browser.current() is not None
                    and win.browser.current().name == "two-moons-2", timeout=30000)
    assert win.browser.current().source != "built-in"
    assert win.browser.current().title == "Two moons (2)"


def test_the_status_bar_elides_its_message_beside_the_progress(win, qtbot):
    long = "Cannot open pipeline: " + "/a/very/long/folder" * 20 + "/p.json: not valid JSON"
    win.statusBar().showMessage(long, 5000)
    line = win.statusBar().line
    qtbot.waitUntil(lambda: line.full_text() == long, timeout=2000)
    assert line.text() != long and line.text().endswith("…") and line.toolTip() == long
    a = line.geometry()
    b = win.progress.geometry()
    assert not a.intersects(b)                         # never under the progress widgets
    win.statusBar().clearMessage()
    assert line.full_text() == "" and line.toolTip() == ""


def test_no_default_null_in_forms(win):
    from studio.app.fields import default_text, describe
    euler = "euler" if "euler" in win.doc.nodes else win.doc.of_type("solver")[0]
    win.scene.select([euler])
    steps = win.inspector.fields.get("steps")
    assert steps is not None and steps.spec.default is None
    from PySide6.QtWidgets import QLineEdit
    texts = [describe(steps.spec), default_text(steps.spec), steps.toolTip()]
    texts += [w.placeholderText() for w in steps.findChildren(QLineEdit)]
    assert all("null" not in t for t in texts), texts
    assert "optional" in default_text(steps.spec)


def test_a_json_error_says_at_once(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"nodes": {"a": "x\ny"}}')
    with pytest.raises(PipelineError) as info:
        Pipeline.load(str(path))
    msg = str(info.value)
    assert "at at" not in msg and "Invalid control character at line 1, column" in msg
    path.write_text('{"nodes": "unterminated')
    with pytest.raises(PipelineError) as info:
        Pipeline.load(str(path))
    assert "at at" not in str(info.value) and "starting at line 1" in str(info.value)


def test_the_self_test_writes_into_a_private_folder():
    from studio.app.selftest import default_screenshot
    a, b = default_screenshot(), default_screenshot()
    assert a != b and os.path.dirname(a) != os.path.dirname(b)
    for p in (a, b):
        assert stat.S_IMODE(os.stat(os.path.dirname(p)).st_mode) == 0o700
        os.rmdir(os.path.dirname(p))


def test_an_idle_window_runs_no_timer(win, qtbot):
    from studio.app import gcguard
    from studio.app.jobs import registry
    quiet = []

    def settled() -> bool:       # the start-up loads (lists, pictures drawn on first paint) ended
        quiet.append(not registry().busy())
        return len(quiet) >= 5 and all(quiet[-5:])
    qtbot.waitUntil(settled, timeout=30000)
    app = QApplication.instance()
    running = [t for t in set(app.findChildren(QTimer)) | set(win.findChildren(QTimer))
               if t.isActive() and not t.isSingleShot()]
    assert running == [], [(t.parent() is gcguard._guard, gcguard._guard.guarding, registry().busy(), registry()._loads, registry().active(), t.interval()) for t in running]
    assert gcguard._guard is not None and not gcguard._guard.guarding

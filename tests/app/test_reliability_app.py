"""App side of issue 12: 64-bit seeds, a picture's outside files, the cost check before a run."""
from __future__ import annotations

import copy
import json

import numpy as np

from studio.core import pngmeta
from tests.app.conftest import set_small
from tests.core.test_pipeline import BASE


def test_seed_box_keeps_64_bit_seeds(win):
    seed = 2 ** 40 + 7
    win.doc.set_run("seed", seed)
    assert win.toolbar.seed.value() == seed
    win.toolbar.seed.setValue(2 ** 63 - 1)
    assert win.doc.run.seed == 2 ** 63 - 1
    win.toolbar.seed.lineEdit().setText(str(2 ** 62))
    win.toolbar.seed.editingFinished.emit()
    assert win.doc.run.seed == 2 ** 62


def test_picture_with_outside_files_is_not_opened_without_confirmation(win, tmp_path):
    from studio.app.comfort.pngio import open_png

    np.save(tmp_path / "secret.npy", np.ones((5, 2)))
    d = copy.deepcopy(BASE)
    d["nodes"]["model"] = {"type": "network", "kind": "empirical",
                           "params": {"data": str(tmp_path / "secret.npy")}}
    (tmp_path / "pics").mkdir()
    png = tmp_path / "pics" / "p.png"
    pngmeta.write_png(png, np.zeros((4, 4)), d)
    before = json.dumps(win.doc.to_dict())
    assert not open_png(win, str(png))          # no dialogs in tests: not confirmed
    assert json.dumps(win.doc.to_dict()) == before
    assert "secret.npy" in win.log.text()
    assert open_png(win, str(png), trusted=True)  # the app's own gallery


def test_run_too_big_for_memory_is_refused_with_figures(win, qtbot, monkeypatch):
    monkeypatch.setenv("STUDIO_FREE_MEMORY", str(1 << 20))
    set_small(win, batch=200000, steps=3)
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        win.run_action.trigger()
    assert blocker.args[0] == "failed"
    assert "needs about" in blocker.args[1] and "batch of at most" in blocker.args[1]


def test_document_with_outside_files_asks_first(win, tmp_path):
    np.save(tmp_path / "far.npy", np.ones((5, 2)))
    d = copy.deepcopy(BASE)
    d["nodes"]["model"] = {"type": "network", "kind": "empirical",
                           "params": {"data": str(tmp_path / "far.npy")}}
    (tmp_path / "share").mkdir()
    p = tmp_path / "share" / "p.json"
    p.write_text(json.dumps(d))
    assert not win.open_path(str(p))                 # no dialogs in tests: not confirmed
    assert "far.npy" in win.log.text()
    asked = []
    win.doc.confirm_outside = lambda path, refs: asked.append(refs) or True
    assert win.open_path(str(p))
    assert asked and asked[0][0][1] == str(tmp_path / "far.npy")
    win.doc.to_pipeline().build()                    # confirmed: readable



def test_a_plugin_bug_is_one_sentence_with_a_crash_report(win, qtbot, monkeypatch, tmp_path):
    from studio.core.networks.gmm import GMM

    def broken(self, x, t, p, labels=None):
        raise RuntimeError("plugin bug")
    monkeypatch.setattr(GMM, "predict", broken)
    monkeypatch.setenv("STUDIO_CRASH_DIR", str(tmp_path / "crash"))
    set_small(win, batch=20, steps=3)
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        win.run()
    status, message = blocker.args
    assert status == "failed" and "\n" not in message
    assert "RuntimeError: plugin bug" in message and "crash report:" in message
    assert list((tmp_path / "crash").iterdir())
    assert win.isVisible()

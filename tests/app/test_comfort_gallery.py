"""Generation gallery: finished runs land in it with seed and pipeline; an exported PNG carries the
pipeline (dropping it restores the document exactly, ``studio run`` accepts it); items persist."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from studio.core import pngmeta
from studio.core.errors import StudioError

from .conftest import set_small

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_to_gallery(qtbot, win, items: int = 1, timeout: int = 60000):
    store = win.comfort.store
    before = len(store.items)
    with qtbot.waitSignal(win.runFinished, timeout=timeout) as done:
        assert win.run()
    assert done.args[0] == "finished", done.args
    qtbot.waitUntil(lambda: len(store.items) >= before + items, timeout=timeout)
    return store.items[:items]


def drop(win, path: str) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(path)])
    ev = QDropEvent(QPointF(400, 300), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    win.dropEvent(ev)


def test_run_lands_in_gallery_and_png_round_trip(win, qtbot, tmp_path):
    set_small(win, batch=200, steps=4)
    win.toolbar.seed.setValue(7)
    original = win.doc.to_dict()
    (item,) = run_to_gallery(qtbot, win)
    assert item.meta["seed"] == 7 and item.meta["branch"] == "dpm-solver++-2m"
    assert item.meta["mode"] == "2d" and item.meta["nfe"] > 0
    assert item.thumb is not None and not item.thumb.isNull()
    panel = win.comfort.gallery
    assert panel.items()[0] is item and "seed 7" in panel.list.item(0).text()
    assert panel.export_button.isEnabled()

    out = str(tmp_path / "exported.png")
    assert panel.export(item, out)
    assert pngmeta.read_pipeline(out) == original
    from PIL import Image
    with Image.open(out) as im:       # a real picture of the samples, not a blank
        px = np.asarray(im.convert("RGB"))
    assert px.shape[0] >= 256 and px.std() > 10

    win.new()
    win.toolbar.seed.setValue(1)
    assert win.doc.to_dict() != original
    drop(win, out)
    assert win.doc.to_dict() == original
    assert win.doc.path is None and "restored" in win.log.entries[-1][2]

    # `studio run` takes the PNG and gives the samples of the run the gallery recorded
    from studio.cli.main import main
    res = str(tmp_path / "res.npz")
    assert main(["run", out, "--out", res, "--quiet"]) == 0
    samples = np.load(res)["dpm-solver++-2m.samples"]
    shown = win.state.results()["dpm-solver++-2m"].samples.numpy()
    np.testing.assert_allclose(samples, shown, rtol=1e-6, atol=1e-8)

    # a PNG without a pipeline: reported, the document stays
    plain = str(tmp_path / "plain.png")
    with open(plain, "wb") as fh:
        fh.write(pngmeta.encode_png(np.zeros((4, 4), np.uint8)))
    drop(win, plain)
    assert win.doc.to_dict() == original
    assert "no embedded pipeline" in win.log.entries[-1][2]


def test_image_runs_and_relative_files_in_the_gallery(win, qtbot, tmp_path):
    """The inpainting example: images, two branches, .npy files named relative to the example:
    the gallery's PNGs name them by absolute path, so the pipeline runs from anywhere."""
    assert win.open_path(os.path.join(ROOT, "examples", "inpainting.json"))
    win.toolbar.batch.setValue(4)
    for nid in win.doc.of_type("solver"):
        win.doc.set_param(nid, "steps", 3)
    items = run_to_gallery(qtbot, win, items=2)
    assert {i.meta["branch"] for i in items} == {"replace-ddim", "ddnm-ddim"}
    assert all(i.meta["mode"] == "image" and i.meta["data_shape"] == [1, 8, 8] for i in items)
    out = str(tmp_path / "elsewhere" / "inpainting.png")
    os.makedirs(os.path.dirname(out))
    assert win.comfort.gallery.export(items[0], out)
    data = pngmeta.read_pipeline(out)
    prior = data["nodes"]["prior"]["params"]["data"]
    assert os.path.isabs(prior) and os.path.isfile(prior)
    assert os.path.isabs(data["nodes"]["ddnm"]["params"]["operator"]["mask"])
    # apart from the file names, the pipeline is the document's
    mine = json.dumps(win.doc.to_dict()).replace(os.path.join(ROOT, "examples") + os.sep, "")
    assert json.loads(json.dumps(data).replace(os.path.join(ROOT, "examples") + os.sep, "")) \
        == json.loads(mine)
    # a picture is untrusted input: its files outside its folder are read only by explicit choice
    with pytest.raises(StudioError, match="outside the pipeline's folder"):
        pngmeta.load_pipeline(out).build()
    from studio.core.untrusted import outside_paths_allowed
    with outside_paths_allowed():
        pngmeta.load_pipeline(out).build()


def test_gallery_persists_and_deletes(qtbot, settings, win):
    set_small(win, batch=100, steps=3)
    (item,) = run_to_gallery(qtbot, win)
    assert os.path.isfile(item.path)
    win.comfort.store.wait()
    from studio.app.mainwindow import MainWindow
    w2 = MainWindow(settings)
    w2.ask_to_save = False
    w2.show_dialogs = False
    qtbot.addWidget(w2)
    with qtbot.waitSignal(w2.comfort.store.reset, timeout=20000):
        w2.show()
    assert [i.path for i in w2.comfort.store.items] == [item.path]
    assert w2.comfort.store.items[0].meta["seed"] == item.meta["seed"]
    w2.comfort.gallery.list.setCurrentRow(0)
    w2.comfort.gallery.delete_button.click()
    assert not os.path.exists(item.path) and w2.comfort.gallery.list.count() == 0
    assert w2.comfort.gallery.stack.currentIndex() == 0      # the empty-state text
    w2.close()

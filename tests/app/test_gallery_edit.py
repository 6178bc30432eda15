"""A gallery picture starts the Edit workspace (issue 14: "a run can start from ... a gallery entry
in the app"): the gallery keeps each picture's samples beside it; Edit… loads them into the
points or the digit tab, and SDEdit / inversion run from them."""
from __future__ import annotations

import os

import numpy as np

from .conftest import set_small
from .test_comfort_gallery import ROOT, run_to_gallery


def test_a_gallery_picture_of_points_starts_an_sdedit(win, qtbot):
    set_small(win, batch=40, steps=4)
    (item,) = run_to_gallery(qtbot, win)
    win.comfort.store.wait()
    samples = item.load_samples()
    shown = win.state.results()[item.meta["branch"]].samples.numpy()
    assert samples.shape == (40, 2)
    np.testing.assert_allclose(samples, shown, rtol=1e-6, atol=1e-6)   # kept as float32
    gallery = win.comfort.gallery
    gallery.select(item)
    assert gallery.edit_button.isEnabled()
    gallery.edit_button.click()
    assert win.workspaces.current == "edit"
    panel = win.edit_panel
    np.testing.assert_array_equal(panel.points(), samples.astype(np.float64))
    net = next(n for n in win.doc.to_dict()["nodes"].values() if n["type"] == "network")
    assert panel.params()["means"] == net["params"]["means"]       # the run's own mixture
    assert item.name in panel.status.text()
    panel.mode.setCurrentIndex(1)                                  # SDEdit from time t
    panel.target.setValue(3)
    with qtbot.waitSignal(panel.finished, timeout=120000):
        assert panel.run()
    assert panel.result is not None and panel.result.edited.shape == (40, 2)
    # deleting the picture deletes its samples
    gallery.delete_button.click()
    assert not os.path.exists(item.path) and not os.path.exists(item.samples_path)


def test_a_gallery_picture_of_digits_goes_to_the_digit_tab(win, qtbot):
    from studio.app.comfort.gallery_panel import edit_problem
    assert win.open_path(os.path.join(ROOT, "examples", "inpainting.json"))
    win.toolbar.batch.setValue(3)
    for nid in win.doc.of_type("solver"):
        win.doc.set_param(nid, "steps", 3)
    items = run_to_gallery(qtbot, win, items=2)
    win.comfort.store.wait()
    item = items[0]
    assert edit_problem(item) == ""
    win.comfort.gallery.select(item)
    win.comfort.gallery.edit_button.click()
    assert win.workspaces.current == "edit"
    first = np.clip(item.load_samples()[0], 0, 1)
    np.testing.assert_allclose(win.edit_digits.image, first, atol=1e-7)
    # a picture without its samples (an older gallery) cannot start an edit, and says why
    os.remove(item.samples_path)
    assert "not kept" in edit_problem(item)
    win.comfort.gallery._sync()
    assert not win.comfort.gallery.edit_button.isEnabled()

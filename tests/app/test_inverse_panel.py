"""The inverse-problem panel, driven like a user: paint a mask with the mouse, run methods side by
side, watch the residual fall, export the pipeline and run it with `studio run`."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest


@pytest.fixture
def panel(qtbot):
    from studio.app.inverse.panel import InversePanel
    from studio.app.main import make_app
    make_app()
    p = InversePanel(list_models=False)
    qtbot.addWidget(p)
    p.resize(1400, 760)
    p.show()
    qtbot.waitExposed(p)
    qtbot.waitUntil(lambda: not p.model.loading and p.model.data is not None, timeout=20000)
    yield p
    p.shutdown()


def pixel_pos(canvas, row: float, col: float) -> QPoint:
    return canvas.from_pixel(row, col).toPoint()


def stroke(canvas, cells, button=Qt.LeftButton) -> None:
    """Press on the first (row, col), move through the others, release on the last."""
    pts = [pixel_pos(canvas, r, c) for r, c in cells]
    QTest.mousePress(canvas, button, Qt.NoModifier, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(canvas, p)
    QTest.mouseRelease(canvas, button, Qt.NoModifier, pts[-1])


def small_run(panel, methods, steps=16, batch=4) -> None:
    m = panel.model
    for k in ("replace", "dps", "pigdm", "ddnm", "red-diff", "dds"):
        m.set_enabled(k, k in methods)
    m.set_solver_param("steps", steps)
    panel.sampler.batch.setValue(batch)


def run_and_wait(qtbot, panel, timeout=30000) -> tuple:
    with qtbot.waitSignal(panel.runFinished, timeout=timeout) as blocker:
        panel.run_button.click()
    return tuple(blocker.args)


def test_paint_the_mask_with_the_brush(panel, qtbot):
    m, canvas = panel.model, panel.editor.canvas
    assert m.problem.operator == "inpaint" and m.mask.shape == (8, 8)
    m.fill_mask(True)
    panel.editor.brush.setValue(1)
    stroke(canvas, [(3.5, 0.2), (3.5, 2.0), (3.5, 5.0), (3.5, 7.8)])     # a drag along row 3
    expected = np.ones((8, 8))
    expected[3] = 0.0
    np.testing.assert_array_equal(m.mask, expected)
    # erase: right-drag over part of the stroke shows those pixels again
    stroke(canvas, [(3.5, 2.5), (3.5, 4.5)], Qt.RightButton)
    expected[3, 2:5] = 1.0
    np.testing.assert_array_equal(m.mask, expected)
    # a bigger brush, in erase mode with the left button: a disc 3 pixels across (pixel centres
    # within 1.5 px: the 3 x 3 block), then 5 across (21 pixels: the 5 x 5 block less its corners)
    m.fill_mask(False)
    panel.editor.brush.setValue(3)
    panel.editor.erase.setChecked(True)
    stroke(canvas, [(4.5, 4.5)])
    assert m.mask[3:6, 3:6].all() and m.mask.sum() == 9
    m.fill_mask(False)
    panel.editor.brush.setValue(5)
    stroke(canvas, [(4.5, 4.5)])
    assert m.mask[2:7, 2:7].sum() == 21 and m.mask[2, 2] == 0 and m.mask.sum() == 21
    # the measurement follows the mask: y holds the observed pixels, zero elsewhere
    y = m.y()
    assert y.shape == (1, 8, 8)
    assert np.all(y[0][m.mask == 0] == 0)
    assert panel.editor.canvas._hidden.sum() == 64 - 21


def test_methods_side_by_side_on_the_painted_mask(panel, qtbot):
    m = panel.model
    m.fill_mask(True)
    panel.editor.brush.setValue(2)
    stroke(panel.editor.canvas, [(5.0, 0.0), (5.0, 8.0)])                # hide rows 4-5
    stroke(panel.editor.canvas, [(7.0, 0.0), (7.0, 8.0)])                # and rows 6-7
    hidden = m.mask == 0
    assert hidden[4:].all() and not hidden[:4].any()
    small_run(panel, ("replace", "dps", "red-diff"), steps=16, batch=4)
    status, msg = run_and_wait(qtbot, panel)
    assert status == "finished", msg
    assert set(panel.trajectories.views) == {"replace", "dps", "red-diff"}
    results = panel.state.results()
    y = m.y()
    for b in ("replace", "dps", "red-diff"):
        assert tuple(results[b].samples.shape) == (4, 1, 8, 8)
        steps, res = panel.residual.curve_data(b)
        assert len(steps) == 16 and np.all(np.isfinite(res))
        final = panel.state.final_residual(b)
        assert final < res[0], f"{b}: the residual did not fall ({res[0]:.3f} -> {final:.3f})"
    # replacement keeps the observed pixels exactly: A x = y
    x = results["replace"].samples.numpy()
    np.testing.assert_allclose(x[:, 0][:, ~hidden], np.broadcast_to(y[0][~hidden], (4, 32)),
                               atol=1e-9)
    assert panel.state.final_residual("replace") < 1e-6
    # the views show x_t and the x0-prediction of every branch; scrubbing moves the plot cursor
    view = panel.trajectories.views["dps"]
    assert view.pixels("x_t") is not None and view.pixels("x0-prediction") is not None
    panel.trajectories.scrubber.setValue(3)
    assert panel.residual.cursor.isVisible() and panel.residual.cursor.value() == 3
    assert "finished" in panel.run_status.text()


def test_exported_pipeline_runs_with_studio_run(panel, qtbot, tmp_path):
    from studio.cli.main import main
    m = panel.model
    m.set_operator("super-resolution")
    assert m.y().shape == (1, 4, 4)
    small_run(panel, ("ddnm", "dds"), steps=10, batch=3)
    status, msg = run_and_wait(qtbot, panel)
    assert status == "finished", msg
    path = str(tmp_path / "sr.json")
    assert panel.export_to(path)
    doc = json.loads(open(path).read())
    g = doc["nodes"]["g-ddnm"]["params"]
    assert g["operator"] == {"kind": "super-resolution", "factor": 2} and g["y"] == "sr.y.npy"
    assert doc["nodes"]["prior"]["params"]["data"] == "sr.prior.npy"
    for f in ("sr.y.npy", "sr.prior.npy", "sr.truth.npy"):
        assert os.path.exists(tmp_path / f)
    out = str(tmp_path / "out.npz")
    assert main(["run", path, "--out", out, "--quiet"]) == 0
    res = np.load(out)
    for b in ("ddnm", "dds"):
        np.testing.assert_allclose(res[f"{b}.samples"], panel.state.results()[b].samples.numpy(),
                                   atol=1e-10)
    # inpainting: the painted mask travels as a .npy file beside the pipeline
    m.set_operator("inpaint")
    path = str(tmp_path / "inp.json")
    assert panel.export_to(path)
    np.testing.assert_array_equal(np.load(tmp_path / "inp.mask.npy"), m.mask)
    assert main(["run", path, "--out", out, "--quiet"]) == 0
    assert np.load(out)["ddnm.samples"].shape == (3, 1, 8, 8)


def test_point_prior_projection_and_clicked_truth(panel, qtbot):
    m = panel.model
    i = panel.editor.prior_combo.findData("gmm:eight-gaussians")
    panel.editor.prior_combo.setCurrentIndex(i)
    panel.editor.prior_combo.activated.emit(i)
    assert m.prior.kind == "points" and m.problem.truth.shape == (2,)
    assert panel.editor.pictures.currentWidget() is panel.editor.points_view
    # observe x1 as well as x0 (check boxes), then switch to a random projection
    panel.editor.coord_boxes[1].setChecked(True)
    np.testing.assert_array_equal(m.mask, [1.0, 1.0])
    m.set_operator("projection")
    m.set_op_param("m", 1)
    # click on the plot to move the truth
    view = panel.editor.points_view
    vb = view.getPlotItem().vb
    scene_pt = vb.mapViewToScene(vb.mapToView(vb.rect().center()))
    QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier,
                     view.mapFromScene(scene_pt))
    assert m.truth_source == "point"
    small_run(panel, ("pigdm", "dds"), steps=12, batch=16)
    status, msg = run_and_wait(qtbot, panel)
    assert status == "finished", msg
    for b in ("pigdm", "dds"):
        assert tuple(panel.state.results()[b].samples.shape) == (16, 2)
        assert len(panel.trajectories.views[b].particles.data()) == 16


def test_image_file_and_problems_are_reported(panel, qtbot, tmp_path):
    from PIL import Image
    m = panel.model
    arr = np.zeros((40, 60), np.uint8)
    arr[:, 30:] = 255                                   # right half white
    Image.fromarray(arr).save(tmp_path / "half.png")
    assert m.load_truth_file(str(tmp_path / "half.png"))
    x = m.problem.truth
    assert x.shape == (1, 8, 8) and x[0, :, 0].max() < 0.05 and x[0, :, -1].min() > 0.95
    assert "half.png" in panel.editor.truth_label.text()
    (tmp_path / "bad.png").write_text("not an image")
    with qtbot.waitSignal(panel.problem) as blocker:
        assert not m.load_truth_file(str(tmp_path / "bad.png"))
    assert blocker.args[0] == "Cannot open the image"
    # a mask that hides everything cannot run: the button says why, run() reports it
    m.fill_mask(False)
    assert not panel.run_button.isEnabled()
    assert "mask hides everything" in panel.run_button.toolTip()
    with qtbot.waitSignal(panel.problem) as blocker:
        assert not panel.run()
    assert blocker.args[0] == "Cannot run"
    m.reset_mask()
    assert panel.run_button.isEnabled()


def test_cancel_a_long_run(panel, qtbot):
    small_run(panel, ("dps",), steps=3000, batch=8)
    with qtbot.waitSignal(panel.controller.updated, timeout=20000):
        assert panel.run()
    assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    with qtbot.waitSignal(panel.runFinished, timeout=20000) as blocker:
        panel.cancel_button.click()
    assert blocker.args[0] == "cancelled"
    assert panel.run_button.isEnabled()


def test_the_window_has_the_workspace(win, qtbot):
    assert "inverse" in win.docks and win.inverse_panel is not None
    tools = [a for a in win.menuBar().actions() if a.text() == "&Tools"]
    assert tools and win.inverse_action in tools[0].menu().actions()
    win.inverse_action.trigger()
    dock = win.docks["inverse"]
    assert dock.isVisible()
    # the default window leaves the bottom dock too narrow for three columns: it floats out, as
    # large as the screen allows
    from studio.app.extensions.inverse import ROOMY
    screen = win.screen().availableGeometry()
    assert dock.isFloating()
    assert dock.width() == min(ROOMY[0], screen.width() - 40)
    # the panel's problems reach the window's log
    win.inverse_panel.model.failed.emit("Cannot open the image", "bad.png: not an image")
    assert "Cannot open the image" in win.log.text()


def test_particle_methods_show_ess_weights_and_the_exact_comparison(panel, qtbot):
    m = panel.model
    i = panel.editor.prior_combo.findData("gmm:eight-gaussians")
    panel.editor.prior_combo.setCurrentIndex(i)
    panel.editor.prior_combo.activated.emit(i)
    small_run(panel, ("tds", "mcgdiff", "fps"), steps=10, batch=16)
    for k in ("tds", "mcgdiff", "fps"):
        m.set_enabled(k, True)
    status, msg = run_and_wait(qtbot, panel)
    assert status == "finished", msg
    view = panel.particles
    for b in ("tds", "mcgdiff", "fps"):
        steps, ess = view.ess_data(b)
        assert len(steps) == 10 and np.all((ess > 0) & (ess <= 1 + 1e-9))
    assert view.method_combo.count() == 3
    assert len(view.bars.opts["height"]) == 8          # the preset K = 8 particles
    panel.lower_tabs.setCurrentWidget(view)
    with qtbot.waitSignal(view.compared, timeout=120000):
        assert view.compare()
    rows = view.rows
    assert [r["method"] for r in rows] == ["exact posterior", "exact score", "tds", "mcgdiff",
                                             "fps"]
    assert view.table.rowCount() == 5 and "floor" in view.compare_status.text()

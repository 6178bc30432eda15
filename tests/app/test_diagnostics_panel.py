"""The Likelihood & diagnostics panel: every computation runs in a worker thread on the current
pipeline's model and matches the engine (NLL vs the exact GMM density, conservative analytic
fields, exact p_t with a time slider); errors are messages, cancel works."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from studio.core.likelihood import log_likelihood

from .conftest import shown_at

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def run_task(qtbot, panel, start, timeout=30000):
    panel.tabs.setCurrentWidget(start.__self__)          # the tab the user pressed Compute in
    with qtbot.waitSignal(panel.taskFinished, timeout=timeout) as blocker:
        assert start()
    return blocker.args


def send_move(widget, pos) -> None:
    p = QPointF(pos)
    QApplication.sendEvent(widget, QMouseEvent(QEvent.MouseMove, p, widget.mapToGlobal(p),
                                               Qt.NoButton, Qt.NoButton, Qt.NoModifier))


@pytest.fixture
def panel(win):
    # the Tools menu entry shows the panel (its tabs are built when it is first shown)
    act = next(a for a in win.extra_menu_actions["&Tools"] if "diagnostics" in a.text())
    act.trigger()
    assert win.docks["diagnostics"].isVisible() and win.diagnostics.tabs.count() == 4
    return win.diagnostics


def test_nll_of_model_samples_matches_the_exact_density(panel, qtbot, tmp_path):
    tab = panel.likelihood
    tab.count.setValue(48)
    tab.settings.set("rtol", 1e-6)
    tab.settings.set("atol", 1e-6)
    name, status = run_task(qtbot, panel, tab.compute)
    assert (name, status) == ("likelihood", "finished")
    res, exact = tab.result["res"], tab.result["exact"]
    assert res.nll.shape == (48,) and exact.shape == (48,)
    # EDM's N(0, 80^2) prior adds its mismatch to the ODE error: well under 1e-2 nats
    assert np.abs(res.nll - exact).mean() < 1e-2
    assert "NLL" in tab.summary.text() and "mean |error|" in tab.summary.text()
    assert len(tab.hist.getPlotItem().listDataItems()) == 2
    # the worker ran the engine's own function: the same numbers
    net = panel.window.doc.to_pipeline().build()
    den = net.denoiser(net.branches[0])
    x = net.network.sample(48, generator=torch.Generator().manual_seed(1)).double()
    direct = log_likelihood(den, x, tab.settings.build())
    np.testing.assert_array_equal(direct.nll, res.nll)
    path = tmp_path / "nll.npz"
    assert tab.export(str(path))
    with np.load(path) as z:
        assert {"nll", "exact_nll", "prior_logp", "delta_logp", "nfe"} <= set(z.files)


def test_nll_of_a_data_file_and_bad_input_is_a_message(panel, qtbot, tmp_path):
    tab = panel.likelihood
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 3)))
    tab.path.setText(str(bad))
    tab.source.setCurrentIndex(tab.source.findData("file"))
    tab.count.setValue(5)
    assert run_task(qtbot, panel, tab.compute)[1] == "failed"
    assert "data shape is [2]" in panel.window.log.text()
    edit = tab.settings.fields["rtol"].edit
    QTest.keyClicks(edit, "-1")
    QTest.keyClick(edit, Qt.Key_Return)
    assert not tab.compute()                      # refused before starting: invalid field
    assert "below the minimum" in panel.window.log.text()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key_Delete)
    QTest.keyClick(edit, Qt.Key_Return)
    good = tmp_path / "good.npy"
    np.save(good, np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]]))
    tab.path.setText(str(good))
    assert run_task(qtbot, panel, tab.compute)[1] == "finished"
    assert tab.result["res"].nll.shape == (3,) and "good.npy" in tab.summary.text()


def test_log_density_heatmap_beside_the_exact_one(panel, qtbot):
    tab = panel.density
    tab.n.setValue(10)
    assert run_task(qtbot, panel, tab.compute)[1] == "finished"
    model, exact = tab.result["model"], tab.result["exact"]
    assert model.values.shape == exact.values.shape == (10, 10)
    top = exact.values.max()
    mass = exact.values > top - 6
    assert np.abs(model.values - exact.values)[mass].mean() < 0.05
    assert tab.model_map.image.image is not None and tab.exact_map.image.image is not None
    assert "mean" in tab.caption.text()
    # hover shows the value under the cursor
    vb = tab.model_map.plot.vb
    scene = shown_at(qtbot, vb, QPointF(float(model.xs[5]), float(model.ys[5])))
    vp = tab.model_map.canvas.viewport()
    send_move(vp, tab.model_map.canvas.mapFromScene(scene))
    assert f"{model.values[5, 5]:.5g}" in tab.model_map.readout.text()


def test_analytic_fields_are_conservative_and_curl_follows_the_curve(panel, qtbot):
    tab = panel.conservativity
    tab.points.setValue(24)
    tab.times.setValue(5)
    tab.grid_n.setValue(12)
    assert run_task(qtbot, panel, tab.compute)[1] == "finished"
    curve, curl = tab.result["curve"], tab.result["curl"]
    assert curve.mean.shape == (5,) and float(curve.mean.max()) < 1e-6
    assert "conservative" in tab.verdict.text() and "not conservative" not in tab.verdict.text()
    assert np.abs(curl.extra["relative"]).max() < 1e-8
    # clicking a point of the curve recomputes the curl at that t
    k = 1
    vb = tab.curve.getPlotItem().vb
    scene = shown_at(qtbot, vb, QPointF(float(np.log10(tab.ts[k])), float(np.log10(1e-14))))
    with qtbot.waitSignal(panel.taskFinished, timeout=30000):
        QTest.mouseClick(tab.curve.viewport(), Qt.LeftButton, Qt.NoModifier,
                         tab.curve.mapFromScene(scene))
    assert tab.result["curl"].t == pytest.approx(tab.ts[k])
    assert tab.t_slider.value() == k


def test_density_evolution_with_a_time_slider(panel, qtbot):
    tab = panel.evolution
    tab.particles.setValue(150)
    tab.n_frames.setValue(5)
    tab.grid_n.setValue(20)
    assert run_task(qtbot, panel, tab.compute)[1] == "finished"
    frames = tab.frames
    assert len(frames) == 5 and tab.slider.maximum() == 4
    assert frames[0]["t"] > frames[-1]["t"]                   # noise to data
    assert all(f["grid"].method == "exact" for f in frames)
    assert "step 0/" in tab.label.text()
    first = tab.map.image.image.copy()
    tab.slider.setValue(4)
    assert f"t {frames[4]['t']:.4g}" in tab.label.text()
    assert not np.array_equal(first, tab.map.image.image)
    np.testing.assert_array_equal(tab.map.particles.data(), frames[4]["particles"])
    tab.slider.setValue(0)
    tab.play.setChecked(True)
    qtbot.waitUntil(lambda: tab.slider.value() == 4, timeout=5000)
    qtbot.waitUntil(lambda: not tab.play.isChecked(), timeout=5000)


def test_cancel_one_task_at_a_time_and_errors(panel, qtbot, win):
    tab = panel.density
    tab.n.setValue(160)
    tab.tol.setCurrentIndex(tab.tol.count() - 1)
    assert tab.compute()
    assert not panel.conservativity.compute()                 # one task at a time
    assert "still running" in win.log.text()
    with qtbot.waitSignal(panel.taskFinished, timeout=30000) as blocker:
        panel.cancel_button.click()
    assert blocker.args[1] == "cancelled" and tab.compute_button.isEnabled()
    # closing the window stops a running computation
    assert tab.compute()
    win.close()
    assert not panel.busy
    win.show()
    # a model that is not 2-D: a message, not a crash
    win.doc.set_params("network", {"means": [[0.0, 0.0, 0.0]], "vars": [[1.0, 1.0, 1.0]]})
    assert run_task(qtbot, panel, panel.evolution.compute)[1] == "failed"
    assert "needs a 2-D model" in win.log.text()

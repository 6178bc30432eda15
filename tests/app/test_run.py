"""Runs from the window: live views hold the engine's samples; cancel, close, errors, exports."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.app.views.branch import ImagesView, PointsView
from studio.core.pipeline import Pipeline
from tests.app.conftest import set_small, wait_run


def load_digits(n: int) -> np.ndarray:
    """scikit-learn's 8x8 digits, read straight from its data file (importing sklearn is slow)."""
    import importlib.util
    import os
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-learn is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):
        pytest.skip("scikit-learn's digits data file is missing")
    raw = np.loadtxt(path, delimiter=",", max_rows=n)
    return (raw[:, :64].reshape(n, 8, 8) / 8.0 - 1.0).astype(np.float64)


def engine_samples(win):
    return Pipeline.from_dict(win.doc.to_dict()).build().run()


def start_slow_run(win, qtbot):
    """A run long enough to act on while it streams (cancelled by the tests)."""
    set_small(win, batch=20000, steps=2000)
    with qtbot.waitSignal(win.controller.updated, timeout=20000):
        assert win.run()


def test_run_shows_the_engine_samples(win, qtbot):
    set_small(win, batch=300, steps=12)
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        win.run_action.trigger()
    assert blocker.args[0] == "finished"
    branch = "dpm-solver++-2m"
    expected = engine_samples(win)[branch].samples.numpy()
    shown = win.panel.displayed_points(branch)
    assert shown.shape == expected.shape
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(win.state.results()[branch].samples.numpy(), expected)
    frames = win.state.frames(branch)
    assert [f.index for f in frames] == list(range(13)) + [12]      # + the denoised samples
    assert frames[-1].final and frames[-1].nfe == 13
    assert "finished" in win.log.text()
    # the scrubber replays the run: frame 0 is the prior sample
    win.panel.scrubber.setValue(0)
    view = win.panel.views[branch]
    assert "step 0/12" in view.header.text()
    np.testing.assert_allclose(view.particles.data(), frames[0].xy, rtol=1e-6)
    win.panel.scrubber.setValue(5)
    assert "step 5/12" in view.header.text()


def test_branches_side_by_side_from_the_same_noise(win, qtbot):
    set_small(win, batch=200, steps=8)
    nid = win.doc.add_node("solver", "euler", {"steps": 8}, (540, 200))
    assert win.doc.link("network", nid) is None
    win.panel.velocity_box.setChecked(True)
    win.panel.x0_box.setChecked(True)
    with qtbot.waitSignal(win.runFinished, timeout=30000):
        win.run()
    assert set(win.panel.views) == {"dpm-solver++-2m", nid}
    a, b = (win.state.frames(k) for k in ("dpm-solver++-2m", nid))
    np.testing.assert_array_equal(a[0].xy, b[0].xy)
    expected = engine_samples(win)
    for k, view in win.panel.views.items():
        assert isinstance(view, PointsView)
        np.testing.assert_allclose(view.particles.data(), expected[k].samples.numpy(), atol=1e-5)
    # mid-run frames: x0 layer and velocity arrows are drawn
    win.panel.scrubber.setValue(3)
    view = win.panel.views[nid]
    assert len(view.x0_layer.data()) == 200
    assert view.arrows.xData is not None and len(view.arrows.xData) > 0


def test_second_run_refused_then_cancel_within_a_step(win, qtbot):
    start_slow_run(win, qtbot)
    assert win.controller.running
    assert not win.run()
    assert "already in progress" in win.log.entries[-1][2]
    with qtbot.waitSignal(win.runFinished, timeout=20000) as blocker:
        before = len(win.state.frames("dpm-solver++-2m"))
        win.cancel_action.trigger()
    assert blocker.args[0] == "cancelled"
    # the engine stops before its next step: at most the step in flight completes
    assert len(win.state.frames("dpm-solver++-2m")) <= before + 1
    assert not win.controller.running
    assert "cancelled" in win.log.text()
    # the app stays usable: the next run works
    set_small(win, batch=100, steps=5)
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        assert win.run()
    assert blocker.args[0] == "finished"


def test_close_during_a_run_stops_the_worker(win, qtbot):
    start_slow_run(win, qtbot)
    thread = win.controller._thread
    win.close()
    assert not win.controller.running
    assert thread.isFinished()
    assert win.state.status == "cancelled"


def test_bad_parameters_become_a_message_not_a_crash(win, qtbot):
    win.show_dialogs = True
    set_small(win, batch=50)
    win.doc.set_param("network", "means", [[0.0, 0.0, 0.0]])     # 3-D means, 2-D vars
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        assert win.run()
    assert blocker.args[0] == "failed"
    assert "vars must be [1][3]" in blocker.args[1]
    assert "Run failed" in win.log.entries[-1][2]
    assert win.error_box is not None and win.error_box.isVisible()
    win.error_box.close()
    win.doc.undo_stack.undo()
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        assert win.run()
    assert blocker.args[0] == "finished"


def test_nan_in_a_run_is_reported(win, qtbot, monkeypatch):
    from studio.core.networks.gmm import GMM
    real = GMM.predict
    monkeypatch.setattr(GMM, "predict", lambda self, x, t, p, labels=None:
                        real(self, x, t, p, labels) * float("nan"))
    set_small(win, batch=50, steps=6)
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        win.run()
    assert blocker.args[0] == "failed"
    assert "non-finite" in blocker.args[1] and "step 1" in blocker.args[1]


def test_unavailable_device_is_reported(win, qtbot):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    win.doc.set_run("device", "cuda")
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        win.run()
    assert blocker.args[0] == "failed" and "CUDA" in blocker.args[1]


def test_higher_dimensional_model_uses_a_pca_view(win, qtbot):
    entry = next(e for e in win.browser.model.entries if e.name == "clusters-8d")
    win.use_model(entry)
    assert win.doc.nodes["network"].params == entry.node["params"]
    set_small(win, batch=200, steps=6)
    with qtbot.waitSignal(win.runFinished, timeout=30000):
        win.run()
    view = win.panel.views["dpm-solver++-2m"]
    assert view.backdrop.mode == "pca"
    assert view.particles.data().shape == (200, 2)
    expected = engine_samples(win)["dpm-solver++-2m"].samples.numpy()
    np.testing.assert_allclose(view.particles.data(), view.backdrop.project(expected), atol=1e-4)
    assert "PC1" in view.plot.getPlotItem().getAxis("bottom").labelText


def test_image_data_shows_image_grids(win, qtbot, tmp_path):
    data = load_digits(150)                                           # [150, 8, 8] in [-1, 1]
    np.save(tmp_path / "digits.npy", data)
    win.save_to(str(tmp_path / "digits.json"))                        # data path is relative
    win.doc.set_kind("network", "empirical", {"data": "digits.npy"})
    set_small(win, batch=16, steps=6)
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        win.run()
    assert blocker.args[0] == "finished", blocker.args
    view = win.panel.views["dpm-solver++-2m"]
    assert isinstance(view, ImagesView)
    grid = view.pixels("x_t")
    assert grid.shape == (4 * 9 - 1, 4 * 9 - 1)
    final = win.state.results()["dpm-solver++-2m"].samples.numpy()
    # the empirical denoiser memorises: final samples are (close to) training digits
    d = ((final[:, None] - data[None]) ** 2).sum((2, 3)).min(1)
    assert d.max() < 1e-2
    win.panel.scrubber.setValue(2)
    assert view.pixels("x0-prediction") is not None


def test_exports(win, qtbot, tmp_path):
    set_small(win, batch=100, steps=5)
    with qtbot.waitSignal(win.runFinished, timeout=30000):
        win.run()
    win.panel.export_npz(str(tmp_path / "run.npz"))
    npz = np.load(tmp_path / "run.npz")
    b = "dpm-solver++-2m"
    assert {f"{b}.samples", f"{b}.nfe", f"{b}.t", f"{b}.trajectory", f"{b}.x0"} <= set(npz.files)
    assert npz[f"{b}.trajectory"].shape == (6, 100, 2)
    win.panel.export_png(str(tmp_path / "view.png"))
    assert (tmp_path / "view.png").stat().st_size > 1000


def test_shortcuts_run_and_cancel(win, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    set_small(win, batch=20000, steps=2000)
    win.activateWindow()
    win.view.setFocus()
    with qtbot.waitSignal(win.controller.updated, timeout=20000):
        QTest.keyClick(win.view, Qt.Key_R, Qt.ControlModifier)       # Ctrl+R: Run
    assert win.controller.running
    with qtbot.waitSignal(win.runFinished, timeout=20000) as blocker:
        QTest.keyClick(win.view, Qt.Key_Escape)                      # Esc: Cancel
    assert blocker.args[0] == "cancelled"

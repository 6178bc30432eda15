"""The flow-map jump view: arrows x_t -> Phi(x_t, t, s) of the pipeline's 2-D network."""
from __future__ import annotations

import numpy as np
import torch

PIPE = {"format": "studio.pipeline/1",
        "nodes": {"p": {"type": "process", "kind": "rectified-flow", "params": {}},
                  "n": {"type": "network", "kind": "gaussian",
                        "params": {"mean": [1.0, -0.5], "cov": [[0.5, 0.1], [0.1, 0.3]]}},
                  "s": {"type": "solver", "kind": "flow-map", "params": {"steps": 2}}},
        "links": [["p", "n"], ["n", "s"]], "run": {"batch": 16, "seed": 0}}


def test_jump_view_draws_the_exact_map_and_follows_the_sliders(win, qtbot):
    win.doc.load_dict(PIPE)
    act = next(a for a in win.extra_menu_actions["&Tools"] if "jumps" in a.text())
    act.trigger()
    view = win.jump_map
    assert view.isVisible() and view.arrows is not None
    start, end = view.arrows
    net, proc = view.network, view.process
    t, s = view.times()
    assert (t, s) == (float(proc.t_max), float(proc.t_min))
    exact = net.flow_map(torch.as_tensor(start), t, s, proc).numpy()
    np.testing.assert_allclose(end, exact, atol=1e-12)
    view.s_slider.setValue(view.t_slider.value())          # s = t: no movement
    start, end = view.arrows
    np.testing.assert_array_equal(start, end)
    view.t_slider.setValue(50)
    view.s_slider.setValue(20)
    t, s = view.times()
    start, end = view.arrows
    np.testing.assert_allclose(end, net.flow_map(torch.as_tensor(start), t, s, proc).numpy(),
                               atol=1e-12)
    # a network in more than two dimensions: a message, no arrows
    pipe = dict(PIPE, nodes=dict(PIPE["nodes"], n={"type": "network", "kind": "gaussian",
                                                    "params": {"mean": [0.0, 0.0, 0.0]}}))
    win.doc.load_dict(pipe)
    act.trigger()
    assert view.arrows is None and "2-D" in view.info.text()


def test_the_saved_pipeline_becomes_the_training_teacher(win, tmp_path):
    act = next(a for a in win.extra_menu_actions["&Tools"] if "teacher" in a.text())
    form = win.training_panel.settings.objective
    win.doc.load_dict(PIPE)
    act.trigger()                                  # not saved: refused, nothing changes
    assert "teacher" not in form.values()
    path = str(tmp_path / "teacher.json")
    win.doc.save(path)
    act.trigger()
    assert form.values()["teacher"] == path
    assert win.training_panel.settings.to_dict()["objective"]["teacher"] == path

"""The comparison workspace runs the README's guidance sweep: the digits example, an axis on the
guidance scale, and the independent judge picked in the form (saved with the comparison)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from .test_compare_workspace import run_compare, setup_form

pytest.importorskip("sklearn")

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                       "digits_guidance_sweep.json")


def test_guidance_scale_sweep_judged_by_digits_mlp(win, qtbot, tmp_path):
    from studio.core.compare.digits_judge import trained
    ws = win.compare
    ws.setup.set_pipeline_file(EXAMPLE)
    setup_form(ws, solvers=("dpm-solver++-2m",), nfes="20", batch=20,
               metrics=("classifier-accuracy", "nfe"))
    setup = ws.setup
    assert "guide.scale" in [setup.axes_box.targets[0].itemText(i)
                             for i in range(setup.axes_box.targets[0].count())]
    assert setup.judge.currentData() is None  # the default judge: the bundled classifier
    setup.judge.setCurrentIndex(setup.judge.findData("digits-mlp"))
    setup.axes_box.targets[0].setEditText("guide.scale")
    setup.axes_box.values[0].setText("0, 4")
    status, _ = run_compare(qtbot, ws, timeout=120000)
    assert status == "finished"
    comp = ws.session.comparison
    assert {"id": "classifier-accuracy", "params": {"judge": "digits-mlp"}} in comp.spec.metrics
    labels = np.arange(20) % 10
    acc = []
    for r in comp.results.values():
        with torch.no_grad():
            pred = trained()(r.samples.reshape(20, 64).double()).argmax(1).numpy()
        assert r.metrics["classifier-accuracy"] == float((pred == labels).mean())
        acc.append(r.metrics["classifier-accuracy"])
    assert acc[1] > acc[0] + 0.3  # scale 4 steers; scale 0 is the unconditional model
    if os.environ.get("STUDIO_SHOT"):
        win.resize(1280, 800)
        win.grab().save(os.environ["STUDIO_SHOT"])
    # saved and reopened: the judge comes back with the metrics
    path = str(tmp_path / "sweep.json")
    ws.session.save(path)
    setup.judge.setCurrentIndex(0)
    assert ws.open_path(path)
    assert setup.judge.currentData() == "digits-mlp"

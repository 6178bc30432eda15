"""IR-SDE restoration in the Inverse problems workspace: picked like any method, run with the
``mrs`` sampler beside DDNM on the digits' exact prior, exported and re-run headless; refused
(greyed out, with the reason) for a trained model."""
from __future__ import annotations

import os

import numpy as np
import torch

from studio.app.inverse.problem import Problem, unusable
from studio.app.inverse.sources import Prior
from studio.core.registry import PROCESSES

from .test_inverse_panel import panel, run_and_wait  # noqa: F401 - the fixture


def test_ir_sde_restores_in_the_workspace_and_exports(panel, qtbot, tmp_path):  # noqa: F811
    from studio.cli.main import main
    m = panel.model
    box = panel.methods.boxes["ir-sde"]
    for k in ("replace", "dps", "pigdm", "ddnm", "red-diff", "dds", "tds", "mcgdiff", "fps"):
        m.set_enabled(k, k == "ddnm")
    m.set_enabled("ir-sde", True)
    m.set_sigma_y(0.2)
    m.set_solver("mrs", {"steps": 12})
    panel.sampler.batch.setValue(4)
    status, msg = run_and_wait(qtbot, panel)
    assert status == "finished", msg
    assert set(panel.trajectories.views) == {"ddnm", "ir-sde"}
    res = panel.state.results()["ir-sde"]
    assert tuple(res.samples.shape) == (4, 1, 8, 8) and res.nfe == 13
    # the branch reports its own process's noise levels (ir-sde, not the pipeline's vp-linear)
    irsde = PROCESSES.get("ir-sde")(theta_schedule="linear")
    frames = panel.state.frames("ir-sde")
    assert len(frames) >= 13 and frames[-1].t <= 1e-3 + 1e-12
    for f in frames:
        assert abs(f.sigma - float(irsde.sigma(torch.tensor(f.t, dtype=torch.float64)))) < 1e-12
    steps, r = panel.residual.curve_data("ir-sde")
    assert len(steps) == 12 and np.all(np.isfinite(r))
    # the exact posterior of the empirical prior: every restoration is one of the prior's digits,
    # one of those that explain y (posterior weight exp(-(r_i^2 - r_min^2) / 2 sigma_y^2) > e^-12)
    data = m.problem.empirical_data().reshape(-1, 64)
    x = res.samples.numpy().reshape(4, 64)
    dist = np.linalg.norm(x[:, None] - data[None], axis=2)
    assert dist.min(1).max() < 1e-6
    mask = m.mask.reshape(-1) > 0
    resid = np.linalg.norm(data[:, mask] - m.y().reshape(-1)[mask], axis=1)
    chosen = resid[dist.argmin(1)]
    assert np.all(chosen ** 2 - resid.min() ** 2 < 24 * m.problem.sigma_y ** 2)
    path = str(tmp_path / "ir.json")
    assert panel.export_to(path)
    out = str(tmp_path / "out.npz")
    assert main(["run", path, "--out", out, "--quiet"]) == 0
    np.testing.assert_allclose(np.load(out)["ir-sde.samples"], res.samples.numpy(), atol=1e-10)
    assert box.isEnabled() and box.isChecked()
    shot = os.environ.get("STUDIO_SHOT")
    if shot:
        panel.resize(1280, 800)
        qtbot.wait(50)
        panel.grab().save(shot)


def test_ir_sde_is_refused_for_a_trained_model():
    trained = Prior("m", "a model", "points", (2,), {"kind": "file", "params": {"path": "m"}},
                    differentiable=False)
    assert "analytic priors" in unusable(trained, "ir-sde")
    assert unusable(trained, "ddnm") is None
    p = Problem(prior=trained, truth=np.zeros(2))
    p.enabled = {"ir-sde": True, "ddnm": True}
    assert p.runnable_methods() == ["ddnm"]
    gmm = Prior("g", "a mixture", "points", (2,), {"kind": "gmm", "params": {}})
    assert unusable(gmm, "ir-sde") is None

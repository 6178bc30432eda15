"""run.start (SDEdit with and without forward noising) and `studio invert` (PF-ODE inversion)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.cli.main import main
from studio.core.errors import PipelineError
from studio.core.metrics import sliced_wasserstein
from studio.core.pipeline import Pipeline

MEANS = [[1.0, 0.5], [-1.0, 0.0], [0.0, -1.2]]
VARS = [[0.05, 0.1], [0.2, 0.05], [0.1, 0.1]]


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


def _doc(solver=("ddim", {"steps": 200, "eta": 1.0, "schedule": "uniform"}), batch=2000,
         start=None, seed=0):
    doc = {"format": "studio.pipeline/1",
           "nodes": {"proc": {"type": "process", "kind": "vp-linear", "params": {}},
                     "prior": {"type": "network", "kind": "gmm",
                               "params": {"means": MEANS, "vars": VARS}},
                     "s": {"type": "solver", "kind": solver[0], "params": solver[1]}},
           "links": [["proc", "prior"], ["prior", "s"]], "run": {"batch": batch, "seed": seed}}
    if start is not None:
        doc["run"]["start"] = start
    return doc


def _exact_given_xt(built, xt, t):
    """Exact samples of p(x0 | x_t) for each row of x_t (a Gaussian mixture per row)."""
    net, p = built.network, built.process
    a, s = float(p.alpha(torch.tensor(t))), float(p.sigma(torch.tensor(t)))
    m, v = np.array(MEANS), np.array(VARS)
    w = np.full(3, 1 / 3)
    lv = a * a * v + s * s                                     # [3, 2]
    logr = np.log(w)[None] - 0.5 * (((xt[:, None] - a * m[None]) ** 2) / lv[None]
                                    + np.log(lv)[None]).sum(-1)
    r = np.exp(logr - logr.max(1, keepdims=True))
    r /= r.sum(1, keepdims=True)
    rng = np.random.default_rng(5)
    k = np.array([rng.choice(3, p=ri) for ri in r])
    pv = 1 / (1 / v[k] + a * a / (s * s))
    pm = pv * (m[k] / v[k] + a * xt / (s * s))
    return torch.as_tensor(pm + np.sqrt(pv) * rng.normal(size=pm.shape))


def test_sdedit_from_t_matches_the_exact_p_x0_given_xt(tmp_path):
    """From one x_t (forward noising off), the ancestral sampler's x0 follow p(x0 | x_t) at the
    sliced-Wasserstein floor of exact samples; with noising on, x is first noised to t."""
    t = 0.4
    xt = np.array([0.3, 0.1])
    np.save(tmp_path / "xt.npy", xt)
    doc = _doc(start={"t": t, "x": "xt.npy", "noise": False})
    (tmp_path / "p.json").write_text(json.dumps(doc))
    built = Pipeline.load(str(tmp_path / "p.json")).build()
    res = built.run()["s"]
    assert abs(float(res.t[0]) - t) < 1e-12 and len(res.t) < 200
    ref = _exact_given_xt(built, np.tile(xt, (4000, 1)), t)
    rng_ref = _exact_given_xt(built, np.tile(xt, (6000, 1)), t)[4000:]   # fresh exact samples
    floor = float(sliced_wasserstein(rng_ref, ref, seed=0))
    sw = float(sliced_wasserstein(res.samples, ref, seed=0))
    assert sw < 2.0 * max(floor, 0.02), (sw, floor)
    # SDEdit with forward noising from data x: the output is a sample of the marginal of
    # p(x0 | x_t) over x_t ~ q(x_t | x); its mean is pulled towards x as t falls
    x = np.array([[2.0, 2.0]])
    near = []
    for tt in (0.2, 0.8):
        d = _doc(start={"t": tt, "x": x.tolist()}, batch=500)
        near.append(float(np.linalg.norm(Pipeline.from_dict(d).build().run()["s"].samples.numpy()
                                         .mean(0) - x[0])))
    assert near[0] < near[1]


def test_start_errors_name_the_field(tmp_path):
    for start, where in [({"t": "a", "x": [0, 0]}, "run.start.t"), ({"t": 0.5}, "run.start.x"),
                         ({"t": 0.5, "x": [0, 0], "noise": 1}, "run.start.noise"),
                         ({"kind": "nope", "t": 0.5}, "run.start.kind"),
                         ({"t": 0.5, "x": [0, 0], "extra": 1}, "run.start")]:
        with pytest.raises(PipelineError) as exc:
            Pipeline.from_dict(_doc(start=start))
        assert where in str(exc.value), (start, str(exc.value))
    built = Pipeline.from_dict(_doc(start={"t": 0.5, "x": [0, 0, 0]}, batch=4)).build()
    with pytest.raises(PipelineError, match="x has shape"):
        built.run()
    built = Pipeline.from_dict(_doc(start={"t": 5.0, "x": [0, 0]}, batch=4)).build()
    with pytest.raises(PipelineError, match="outside the process"):
        built.run()
    d = _doc(start={"t": 0.5, "x": "x.npy", "noise": False})
    assert Pipeline.from_dict(d).to_dict()["run"]["start"] == d["run"]["start"]
    assert "start" not in Pipeline.from_dict(_doc()).to_dict()["run"]


def test_invert_then_regenerate_with_dopri5_returns_the_data(tmp_path):
    doc = _doc(solver=("dopri5", {"rtol": 1e-9, "atol": 1e-9}), batch=16)
    (tmp_path / "p.json").write_text(json.dumps(doc))
    data = Pipeline.from_dict(doc).build().network.sample(16, torch.Generator().manual_seed(1))
    np.save(tmp_path / "x.npy", data.numpy())
    assert main(["invert", str(tmp_path / "p.json"), "--data", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "z.npz")]) == 0
    out = np.load(tmp_path / "z.npz")
    assert set(out.files) == {"z", "nfe"} and int(out["nfe"]) > 0
    z = out["z"]
    assert z.shape == (16, 2) and abs(z.std() - 1) < 0.5
    np.save(tmp_path / "z.npy", z)
    assert main(["run", str(tmp_path / "p.json"), "--noise", str(tmp_path / "z.npy"), "--out",
                 str(tmp_path / "r.npz"), "--quiet"]) == 0
    back = np.load(tmp_path / "r.npz")["s.samples"]
    rmse = float(np.sqrt(((back - data.numpy()) ** 2).mean()))
    assert rmse < 1e-4, rmse


def test_invert_needs_a_deterministic_solver(tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps(_doc(batch=4)))
    np.save(tmp_path / "x.npy", np.zeros((4, 2)))
    assert main(["invert", str(tmp_path / "p.json"), "--data", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "z.npz")]) == 2
    assert "deterministic" in capsys.readouterr().err


def test_ddim_inversion_round_trip_error_falls_with_steps():
    errs = []
    for steps in (10, 40):
        doc = _doc(solver=("ddim", {"steps": steps, "eta": 0.0}), batch=64)
        built = Pipeline.from_dict(doc).build()
        data = built.network.sample(64, torch.Generator().manual_seed(2))
        from studio.core.invert import invert
        z, nfe = invert(built, data)
        assert nfe >= steps
        back = built.run(noise=z)["s"].samples
        errs.append(float(((back - data) ** 2).mean().sqrt()))
    assert errs[1] < 0.5 * errs[0], errs

"""The inverse-problem guidance kinds on exact-posterior beds (Gaussian and Gaussian-mixture
priors, where the posterior is known in closed form) and their exactness guarantees."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from studio.core.inverse.guidance import build_operator
from studio.core.inverse.posterior import posterior_of
from studio.core.model import Denoiser
from studio.core.params import build
from studio.core.pipeline import build_solver
from studio.core.registry import GUIDANCE, NETWORKS, PROCESSES
from studio.core.runner import SamplingRun

from studio.core.metrics import sliced_wasserstein

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


KINDS = ["replace", "dps", "pigdm", "ddnm", "red-diff", "dds"]
VP = build(PROCESSES.get("vp-linear"), {}, "vp")


def _net(kind, **params):
    return build(NETWORKS.get(kind), params, kind)


def _guidance(kind, op_spec, y, sigma_y, **params):
    return build(GUIDANCE.get(kind), {"operator": op_spec, "y": np.asarray(y).tolist(),
                                      "sigma_y": sigma_y, **params}, kind)


def _sample(net, guidance, n=600, solver=("ddim", {"steps": 100, "eta": 1.0, "schedule": "uniform"}),
            seed=5, process=VP, record=False):
    z = torch.randn((n,) + tuple(net.data_shape), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    run = SamplingRun(Denoiser(net, process, guidance), build_solver(solver[0], dict(solver[1]), "s"),
                      z * process.prior_std, seed=seed, record=record)
    return run.run()


def _bed(net, op_spec, sigma_y, seed=1):
    op = build_operator(op_spec)
    op.bind(net.data_shape)
    g = torch.Generator().manual_seed(seed)
    y = op.measure(net.sample(1, g), sigma_y, g)[0]
    post = posterior_of(net, op, y, sigma_y)
    return op, y, post, post.sample(3000, torch.Generator().manual_seed(2))


# -- a Gaussian prior: PiGDM and DDS are exact there (p(x0|x_t) is Gaussian with variance r_t^2) --
V = 0.7
GAUSS = _net("gmm", means=[[0.3, 0.3, 0.3, 0.3]], vars=[[V] * 4])


@pytest.mark.parametrize("kind,params,sw_max", [
    ("pigdm", {"data_var": V}, 0.09),
    ("dds", {"data_var": V}, 0.09),
    ("dps", {"zeta": 0.01}, 0.13),
])
def test_noisy_projection_on_a_gaussian_prior(kind, params, sw_max):
    spec = {"kind": "projection", "m": 2, "seed": 1}
    op, y, post, ref = _bed(GAUSS, spec, 0.2)
    xs = _sample(GAUSS, _guidance(kind, spec, y, 0.2, **params)).samples
    assert float(sliced_wasserstein(xs, ref, seed=0)) < sw_max
    assert np.linalg.norm(xs.mean(0).numpy() - post.mean) < 0.1
    std, want = xs.std(0).numpy(), np.sqrt(np.diag(post.covariance))
    assert np.all(np.abs(std / want - 1) < 0.15)


@pytest.mark.parametrize("kind", ["replace", "ddnm", "dds", "pigdm"])
def test_noiseless_inpainting_on_a_gaussian_prior(kind):
    spec = {"kind": "inpaint", "mask": [1, 0, 1, 0]}
    op, y, post, ref = _bed(GAUSS, spec, 0.0)
    params = {"data_var": V} if kind == "pigdm" else {}
    xs = _sample(GAUSS, _guidance(kind, spec, y, 0.0, **params)).samples
    assert float(sliced_wasserstein(xs, ref, seed=0)) < 0.09
    assert np.linalg.norm(xs.mean(0).numpy() - post.mean) < 0.1


def test_red_diff_finds_the_measurement_with_less_spread():
    """RED-diff is a (regularised) optimiser: consistent with y, mean close, spread too small."""
    spec = {"kind": "projection", "m": 2, "seed": 1}
    op, y, post, ref = _bed(GAUSS, spec, 0.2)
    xs = _sample(GAUSS, _guidance("red-diff", spec, y, 0.2)).samples
    assert np.linalg.norm(xs.mean(0).numpy() - post.mean) < 0.25
    assert float((op.forward(xs) - y).norm(dim=1).mean()) < 0.15
    assert np.all(xs.std(0).numpy() < np.sqrt(np.diag(post.covariance)))


# -- a multimodal prior: a ring of 8 Gaussians; the measurement line crosses some of them --------
RING = _net("gmm", means=[[1.2 * math.cos(k * math.pi / 4), 1.2 * math.sin(k * math.pi / 4)]
                          for k in range(8)], vars=[[0.03, 0.03]] * 8)
RING_PARAMS = {"dps": {"zeta": 0.01}}


@pytest.mark.parametrize("kind", KINDS)
def test_methods_land_on_the_posterior_modes(kind):
    spec = {"kind": "projection", "m": 1, "seed": 3}
    op, y, post, ref = _bed(RING, spec, 0.1)
    xs = _sample(RING, _guidance(kind, spec, y, 0.1, **RING_PARAMS.get(kind, {}))).samples
    prior_sw = float(sliced_wasserstein(RING.sample(3000, torch.Generator().manual_seed(3)), ref))
    comp = ((xs[:, None, :] - torch.as_tensor(RING._m)[None]) ** 2).sum(-1).argmin(1).numpy()
    on_modes = np.isin(comp, np.flatnonzero(post.weights > 0.005)).mean()
    assert on_modes > 0.85, on_modes
    assert float(sliced_wasserstein(xs, ref)) < 0.75 * prior_sw
    assert float((op.forward(xs) - y).abs().mean()) < 0.3


# -- exact measurement consistency (sigma_y = 0) --------------------------------------------------
_IMG = np.random.default_rng(0).normal(size=(40, 1, 4, 4))
_RGB = np.random.default_rng(1).normal(size=(40, 3, 2, 2))
EXACT_BEDS = {
    "inpaint": (RING, {"kind": "inpaint", "mask": [0, 1]}),
    "projection": (_net("gmm", means=[[0, 1, 0], [1, 0, -1]], vars=[[0.3] * 3] * 2),
                   {"kind": "projection", "m": 2, "seed": 0}),
    "super-resolution": (_net("empirical", data=_IMG.tolist()), {"kind": "super-resolution"}),
    "colorize": (_net("empirical", data=_RGB.tolist()), {"kind": "colorize"}),
    "inpaint-image": (_net("empirical", data=_IMG.tolist()),
                      {"kind": "inpaint", "mask": [[1, 1, 0, 0]] * 4}),
}


@pytest.mark.parametrize("kind", ["replace", "ddnm"])
@pytest.mark.parametrize("bed", sorted(EXACT_BEDS))
@pytest.mark.parametrize("solver", [("ddim", {"steps": 15, "eta": 1.0}), ("heun", {"steps": 6}),
                                    ("dpm-solver++-2m", {"steps": 10})])
def test_noiseless_measurement_is_satisfied_exactly(kind, bed, solver):
    net, spec = EXACT_BEDS[bed]
    op = build_operator(spec)
    op.bind(net.data_shape)
    x_true = torch.as_tensor(np.random.default_rng(7).normal(size=(1,) + tuple(net.data_shape)))
    y = op.forward(x_true)[0]
    xs = _sample(net, _guidance(kind, spec, y, 0.0), n=32, solver=solver).samples
    assert float((op.forward(xs) - y).abs().max()) < 1e-9


def test_replace_resampling_jumps_cost_evaluations_and_stay_exact():
    spec = {"kind": "inpaint", "mask": [0, 1]}
    y = [0.0, 0.8]
    plain = _sample(RING, _guidance("replace", spec, y, 0.0), n=50,
                    solver=("ddim", {"steps": 20, "eta": 1.0}))
    jumps = _sample(RING, _guidance("replace", spec, y, 0.0, jump_length=5, resamples=3), n=50,
                    solver=("ddim", {"steps": 20, "eta": 1.0}))
    # 20 steps + 1 final; every 5th step (5, 10, 15) is redone twice over 5 steps: + 30
    assert plain.nfe == 21 and jumps.nfe == 51
    assert float((jumps.samples[:, 1] - 0.8).abs().max()) < 1e-12
    assert len(jumps.t) == 21   # indices only move forward in the events


# -- every kind with several solvers; NFE; the residual the app plots -----------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_runs_with_every_kind_of_solver(kind):
    spec = {"kind": "projection", "m": 1, "seed": 3}
    for solver in [("euler", {"steps": 8}), ("heun", {"steps": 4}), ("dpm-solver++-2m", {"steps": 8}),
                   ("ddim", {"steps": 8, "eta": 1.0})]:
        res = _sample(RING, _guidance(kind, spec, [0.5], 0.1), n=16, solver=solver)
        assert res.samples.shape == (16, 2) and bool(torch.isfinite(res.samples).all())
        if kind in ("dps", "red-diff") and solver[0] == "euler":
            assert res.nfe == (9 if kind == "dps" else 8)   # DPS reuses its gradient evaluation
    for pid in ("rectified-flow", "edm", "ve"):   # alpha = 0 at t_max (flow), huge sigma (ve, edm)
        proc = build(PROCESSES.get(pid), {}, pid)
        res = _sample(RING, _guidance(kind, spec, [0.5], 0.1), n=16, process=proc,
                      solver=("euler", {"steps": 8}))
        assert bool(torch.isfinite(res.samples).all()), pid


@pytest.mark.parametrize("kind", ["pigdm", "ddnm", "dds", "replace"])
def test_residual_of_x0_per_step(kind):
    """What the app plots: ||y - A x0|| per step from the step events' x0 (for DDNM the x0 is the
    projected one, DDS's the CG-refined one: consistent with y from the start)."""
    spec = {"kind": "projection", "m": 1, "seed": 3}
    g = _guidance(kind, spec, [0.5], 0.05)
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    run = SamplingRun(Denoiser(RING, VP, g), build_solver("ddim", {"steps": 30, "eta": 1.0}, "s"), z)
    res = [float(g.residual(ev.x0).mean()) for ev in run if ev.x0 is not None]
    assert len(res) == 30
    if kind in ("ddnm", "dds"):   # their x0 is already the corrected one
        assert max(res) < 0.1
    else:
        assert res[-1] < 0.5 * res[0]
    assert float(g.residual(run.result.samples).mean()) < 0.2


def test_per_sample_measurements():
    spec = {"kind": "inpaint", "mask": [1, 0]}
    ys = [[1.2, 0.0], [-1.2, 0.0], [0.0, 0.0], [0.85, 0.0]]
    out = _sample(RING, _guidance("ddnm", spec, ys, 0.0), n=4, solver=("ddim", {"steps": 10})).samples
    assert torch.allclose(out[:, 0], torch.tensor([1.2, -1.2, 0.0, 0.85], dtype=torch.float64))
    with pytest.raises(Exception, match="y holds 4 measurements but the batch has 5"):
        _sample(RING, _guidance("ddnm", spec, ys, 0.0), n=5, solver=("ddim", {"steps": 2}))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_runs(kind):
    spec = {"kind": "inpaint", "mask": [1, 0]}
    z = torch.randn(16, 2, generator=torch.Generator().manual_seed(0)).float()
    run = SamplingRun(Denoiser(RING, VP, _guidance(kind, spec, [0.85, 0], 0.05)),
                      build_solver("ddim", {"steps": 10, "eta": 1.0}, "s"), z)
    out = run.run().samples
    assert out.dtype == torch.float32 and bool(torch.isfinite(out).all())


def test_y_in_data_units_of_a_normalised_model():
    """A trained model works in its own units (data = model * scale + shift): y and sigma_y are
    mapped to them at bind time, and the result (in data units) satisfies the measurement."""
    from types import SimpleNamespace

    from studio.core.networks.gmm import GMM

    class Normalised(GMM):
        def to_data_units(self, x):
            return x * 2.0 + 0.5

    net = Normalised(means=[[1.0, 0.0], [-1.0, 0.0]], vars=[[0.1, 0.1]] * 2)
    net.spec = SimpleNamespace(shift=0.5, scale=2.0, to_model_units=lambda x: (x - 0.5) / 2.0)
    for kind in ("replace", "ddnm"):
        g = _guidance(kind, {"kind": "projection", "m": 1, "seed": 0}, [1.3], 0.0)
        g.bind(net, VP)
        out = _sample(net, g, n=20, solver=("ddim", {"steps": 10})).samples   # data units
        assert torch.allclose(g.op.forward(out), torch.tensor(1.3, dtype=torch.float64), atol=1e-9)
        model_units = (out - 0.5) / 2.0
        assert torch.allclose(g.residual(model_units), torch.zeros(20, dtype=torch.float64), atol=1e-9)
    g = _guidance("pigdm", {"kind": "inpaint", "mask": [1, 0]}, [0.5, 0], 0.4)
    g.bind(net, VP)
    assert g.sy == pytest.approx(0.2)
    net.spec = SimpleNamespace(shift=0.0, scale=[1.0, 2.0], to_model_units=lambda x: x)
    with pytest.raises(Exception, match="normalises each channel differently"):
        g.bind(net, VP)

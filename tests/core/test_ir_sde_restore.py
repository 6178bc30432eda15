"""IR-SDE restoration (guidance ``ir-sde``) against closed forms: the exact Gaussian posterior's
mean and covariance (inpainting, denoising), a mixture posterior's mode weights at the
sliced-Wasserstein floor, an empirical prior's reweighted points; and its clear errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from studio.core.errors import ParamError, StudioError
from studio.core.inverse.guidance import build_operator
from studio.core.inverse.operators import Inpaint
from studio.core.inverse.posterior import posterior_of
from studio.core.metrics import sliced_wasserstein
from studio.core.model import Denoiser
from studio.core.params import build
from studio.core.pipeline import Pipeline, build_solver
from studio.core.registry import GUIDANCE, NETWORKS, PROCESSES
from studio.core.runner import SamplingRun

from .models_helpers import tiny_model_file
from .test_sde_solvers import FACTOR, GMM3


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


VP = build(PROCESSES.get("vp-linear"), {}, "vp")
COV = [[1.0, 0.5, 0.2], [0.5, 0.8, 0.1], [0.2, 0.1, 0.6]]
MEAN = [0.3, -0.2, 0.5]


def _net(kind, **params):
    return build(NETWORKS.get(kind), params, kind)


def _restore(net, spec, y, sigma_y, solver, n, seed=5, process=VP, **params):
    g = build(GUIDANCE.get("ir-sde"), {"operator": spec, "y": np.asarray(y).tolist(),
                                       "sigma_y": sigma_y, **params}, "ir-sde")
    g.bind(net, process)
    z = torch.randn((n,) + tuple(net.data_shape), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    run = SamplingRun(Denoiser(net, process, g), build_solver(solver[0], dict(solver[1]), "s"),
                      z * process.prior_std, seed=seed)
    return run.run()


def _check_moments(xs: np.ndarray, mean: np.ndarray, cov: np.ndarray, slack: float) -> None:
    """Sample mean and covariance within 5 standard errors of the exact ones (n samples: the
    mean's error is sqrt(C_ii / n), a covariance entry's sqrt((C_ii C_jj + C_ij^2) / n)), plus
    ``slack`` (relative, of the entry's scale) for the solver's discretisation."""
    n = len(xs)
    d = np.sqrt(np.diag(cov))
    assert np.all(np.abs(xs.mean(0) - mean) <= 5 * d / math.sqrt(n) + 1e-9), (xs.mean(0), mean)
    se = np.sqrt((np.outer(d * d, d * d) + cov ** 2) / n)
    err = np.abs(np.cov(xs.T) - cov)
    assert np.all(err <= 5 * se + slack * np.outer(d, d)), (np.cov(xs.T), cov)


@pytest.mark.parametrize("solver,slack", [
    (("heun", {"steps": 20}), 0.01),
    (("mrs", {"steps": 80, "mode": "ode"}), 0.02),
])
def test_inpainting_a_gaussian_prior_gives_the_exact_posterior(solver, slack):
    net = _net("gmm", means=[MEAN], covs=[COV])
    spec = {"kind": "inpaint", "mask": [1.0, 0.0, 1.0]}
    y = [0.7, 0.0, -0.4]
    op = build_operator(spec)
    post = posterior_of(net, op, torch.tensor(y), 0.1)
    res = _restore(net, spec, y, 0.1, solver, 2000)
    _check_moments(res.samples.numpy(), post.mean, post.covariance, slack)
    assert res.nfe == build_solver(solver[0], dict(solver[1]), "s").nfe_for_steps(
        solver[1]["steps"])


def test_denoising_a_gaussian_network_with_mrs_sde_gives_the_exact_posterior():
    net = _net("gaussian", mean=MEAN, cov=COV)
    spec = {"kind": "inpaint", "mask": [1.0, 1.0, 1.0]}          # denoising: mu = y
    y = np.array([0.9, -0.6, 0.1])
    c = np.asarray(COV)
    post_cov = np.linalg.inv(np.linalg.inv(c) + np.eye(3) / 0.3 ** 2)
    post_mean = post_cov @ (np.linalg.solve(c, MEAN) + y / 0.3 ** 2)
    res = _restore(net, spec, y, 0.3, ("mrs", {"steps": 150}), 2000,
                   process=PROCESSES.get("ir-sde")())
    _check_moments(res.samples.numpy(), post_mean, post_cov, 0.02)


def test_mixture_posterior_mode_weights_at_the_sliced_wasserstein_floor():
    net = _net("gmm", **GMM3)
    spec = {"kind": "inpaint", "mask": [1.0, 0.0]}
    y = [0.2, 0.0]
    post = posterior_of(net, build_operator(spec), torch.tensor(y), 0.4)
    assert post.weights.min() > 0.1                       # a genuinely multi-modal posterior
    n = 3000
    res = _restore(net, spec, y, 0.4, ("mrs", {"steps": 100}), n)
    xs = res.samples
    # the mode of each sample: its most likely component of the exact posterior mixture
    pnet = _net("gmm", **post.network_params())
    mode = pnet.component_log_posterior(xs, torch.tensor(0.0), VP).argmax(1)
    share = np.bincount(mode.numpy(), minlength=3) / n
    assert np.all(np.abs(share - post.weights) < 0.05), (share, post.weights)
    g = torch.Generator().manual_seed(9)
    ref = post.sample(n, g)
    floor = sum(float(sliced_wasserstein(ref, post.sample(n, g))) for _ in range(3)) / 3
    assert float(sliced_wasserstein(xs, ref)) <= FACTOR * floor


def test_an_empirical_prior_lands_on_its_points_reweighted_by_the_likelihood():
    pts = np.array([[0.0, 0.0], [1.0, 0.5], [0.4, -1.0]])
    net = _net("empirical", data=pts.tolist())
    spec = {"kind": "inpaint", "mask": [1.0, 0.0]}
    res = _restore(net, spec, [0.5, 0.0], 0.3, ("mrs", {"steps": 40}), 2000)
    xs = res.samples.numpy()
    nearest = np.linalg.norm(xs[:, None] - pts[None], axis=2)
    assert nearest.min(1).max() < 1e-3                   # every sample is one of the points
    w = np.exp(-0.5 * (pts[:, 0] - 0.5) ** 2 / 0.09)
    share = np.bincount(nearest.argmin(1), minlength=3) / len(xs)
    assert np.all(np.abs(share - w / w.sum()) < 5 * np.sqrt(0.25 / len(xs)))


def test_a_pipeline_file_runs_it_beside_another_method(tmp_path):
    doc = {"format": "studio.pipeline/1",
           "nodes": {"p": {"type": "process", "kind": "vp-linear"},
                     "n": {"type": "network", "kind": "gmm", "params": GMM3},
                     "g1": {"type": "guidance", "kind": "ir-sde",
                            "params": {"operator": {"kind": "inpaint", "mask": [1.0, 0.0]},
                                       "y": [0.2, 0.0], "sigma_y": 0.4}},
                     "g2": {"type": "guidance", "kind": "ddnm",
                            "params": {"operator": {"kind": "inpaint", "mask": [1.0, 0.0]},
                                       "y": [0.2, 0.0], "sigma_y": 0.4}},
                     "mrs": {"type": "solver", "kind": "mrs", "params": {"steps": 10}},
                     "ddim": {"type": "solver", "kind": "ddim", "params": {"steps": 10}}},
           "links": [["p", "n"], ["n", "g1"], ["n", "g2"], ["g1", "mrs"], ["g2", "ddim"]],
           "run": {"batch": 64, "seed": 3}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    built = Pipeline.load(str(path)).build()
    out = built.run(record=True)
    a = out["mrs"]
    # the first state is the noisy degraded image x_1 = mu + sigma_1 z (mu = A^+ y = (0.2, 0))
    sigma_1 = built.guidance["g1"].process.prior_std
    torch.testing.assert_close(a.trajectory[0], torch.tensor([0.2, 0.0]) + sigma_1 * built.noise())
    assert a.nfe == 11 and torch.isfinite(a.samples).all()
    assert abs(float(a.samples[:, 0].mean()) - 0.2) < 0.3
    assert abs(float(a.t[1]) - 1.0) > 0 and float(a.t[-1]) <= 1e-3 + 1e-12   # ir-sde's times
    again = Pipeline.load(str(path)).build().run()["mrs"]
    torch.testing.assert_close(a.samples, again.samples, rtol=0, atol=0)


class _NoPinv(Inpaint):
    has_pinv = False


def test_clear_errors():
    gmm = _net("gmm", **GMM3)
    spec = {"kind": "inpaint", "mask": [1.0, 0.0]}
    g = GUIDANCE.get("ir-sde")(operator=_NoPinv(mask=[1.0, 0.0]), y=[0.2, 0.0])  # a plugin operator
    with pytest.raises(ParamError, match="pseudo-inverse"):
        g.bind(gmm, VP)
    emp = _net("empirical", data=[[0.0, 0.0], [1.0, 1.0]])
    g = build(GUIDANCE.get("ir-sde"), {"operator": spec, "y": [0.2, 0.0]}, "g")
    with pytest.raises(ParamError, match="sigma_y > 0"):
        g.bind(emp, VP)
    with pytest.raises(ParamError):
        build(GUIDANCE.get("ir-sde"), {"operator": spec, "y": [0.2, 0.0], "lam": 0.0}, "g")
    # a run.start does not apply: the start is the noisy degraded image
    doc = {"format": "studio.pipeline/1",
           "nodes": {"p": {"type": "process", "kind": "vp-linear"},
                     "n": {"type": "network", "kind": "gmm", "params": GMM3},
                     "g": {"type": "guidance", "kind": "ir-sde",
                           "params": {"operator": spec, "y": [0.2, 0.0], "sigma_y": 0.1}},
                     "s": {"type": "solver", "kind": "euler", "params": {"steps": 5}}},
           "links": [["p", "n"], ["n", "g"], ["g", "s"]],
           "run": {"batch": 4, "start": {"kind": "teleport", "t": 0.5}}}
    with pytest.raises(StudioError, match="run.start"):
        Pipeline.from_dict(doc).build().run()


def test_a_trained_unconditional_network_is_refused(tmp_path):
    path = tiny_model_file(tmp_path / "tiny.safetensors")
    doc = {"format": "studio.pipeline/1",
           "nodes": {"p": {"type": "process", "kind": "vp-linear"},
                     "n": {"type": "network", "kind": "file", "params": {"path": path}},
                     "g": {"type": "guidance", "kind": "ir-sde",
                           "params": {"operator": {"kind": "inpaint", "mask": [1.0, 0.0]},
                                      "y": [0.2, 0.0], "sigma_y": 0.1}},
                     "s": {"type": "solver", "kind": "mrs", "params": {"steps": 5}}},
           "links": [["p", "n"], ["n", "g"], ["g", "s"]], "run": {"batch": 4}}
    with pytest.raises(StudioError, match="conditioned on the degraded image") as exc:
        Pipeline.from_dict(doc).build()
    assert "node 'g'" in str(exc.value) or "'g'" in str(exc.value)

"""Analytic teleportation (run.start kind "teleport"): the jump is the closed-form Gaussian PF-ODE,
the moments are exact for analytic networks and read off a black-box network exactly when the data
are Gaussian, a teleported run saves the evaluations above T at little cost in accuracy, and bad
input is a clear error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.errors import PipelineError
from studio.core.pipeline import Pipeline
from studio.core.teleport import Teleport, data_moments, gaussian_flow, measured_moments

from .helpers import GAUSS, GMM8, network, process


def pipeline(net: dict, start=None, steps=20, solver="heun", pid="edm", batch=64):
    run = {"batch": batch, "seed": 2}
    if start is not None:
        run["start"] = start
    return Pipeline.from_dict({"format": "studio.pipeline/1",
                               "nodes": {"p": {"type": "process", "kind": pid, "params": {}},
                                         "n": {"type": "network", **net},
                                         "s": {"type": "solver", "kind": solver,
                                               "params": {"steps": steps}}},
                               "links": [["p", "n"], ["n", "s"]], "run": run}).build()


@pytest.mark.parametrize("pid", ["edm", "vp-linear"])
def test_jump_is_the_exact_gaussian_pf_ode(pid):
    proc = process(pid)
    g = network("gaussian", **GAUSS)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t0, t1 = proc.t_max, proc.t_min + 0.3 * (proc.t_max - proc.t_min)
    mean, cov = data_moments(g)
    torch.testing.assert_close(gaussian_flow(x, mean, cov, proc, t0, t1),
                               g.ode_solution(x, t0, t1, proc), rtol=1e-12, atol=1e-12)


def test_moments_of_analytic_networks():
    mean, cov = data_moments(network("gmm", **GMM8))
    samples = network("gmm", **GMM8).sample(200000, torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_allclose(mean, samples.mean(0), atol=0.03)
    np.testing.assert_allclose(cov, np.cov(samples, rowvar=False), atol=0.05)
    pts = [[0.0, 1.0], [2.0, -1.0], [1.0, 3.0]]
    mean, cov = data_moments(network("empirical", data=pts))
    np.testing.assert_allclose(cov, np.cov(np.array(pts), rowvar=False, bias=True))


def test_measured_moments_recover_gaussian_data_exactly():
    """A black-box denoiser of Gaussian data is affine in x_T: the fit is exact."""
    proc = process("edm")
    g = network("gaussian", **GAUSS)
    mean, cov = measured_moments(g, proc, 5.0, probe=64)
    np.testing.assert_allclose(mean, GAUSS["mean"], atol=1e-8)
    np.testing.assert_allclose(cov, GAUSS["cov"], atol=1e-8)


def test_teleported_run_saves_evaluations_and_stays_accurate():
    gmm = {"kind": "gmm", "params": GMM8}
    full = pipeline(gmm, steps=40)
    tele = pipeline(gmm, {"kind": "teleport", "t": 20.0}, steps=40)
    a, b = full.run()["s"], tele.run()["s"]
    assert b.nfe < a.nfe and float(b.t[0]) == 20.0
    # for Gaussian data the teleported run is the full run up to the solver's error
    g = {"kind": "gaussian", "params": GAUSS}
    ga, gb = pipeline(g, steps=40).run()["s"], pipeline(g, {"kind": "teleport", "t": 20.0},
                                                        steps=40).run()["s"]
    assert float((ga.samples - gb.samples).abs().max()) < 1e-3
    # for the mixture, the Gaussian jump to sigma 20 costs little: mode occupancy is kept
    r = b.samples.norm(dim=1)
    assert float((r - 4).abs().median()) < 0.3


def test_teleport_errors_are_clear():
    gmm = {"kind": "gmm", "params": GMM8}
    with pytest.raises(PipelineError, match=r"run\.start\.t"):
        pipeline(gmm, {"kind": "teleport", "t": 500.0}).run()
    with pytest.raises(PipelineError, match="unknown key"):
        pipeline(gmm, {"kind": "teleport", "t": 5.0, "bogus": 1})
    with pytest.raises(PipelineError, match="kind"):
        pipeline(gmm, {"kind": "warp", "t": 5.0})
    assert Teleport.parse({"kind": "teleport", "t": 3}, "run.start").t == 3.0

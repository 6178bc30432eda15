"""Restart, SA-Solver and the LML corrector of pc: exact reductions to existing solvers, orders of
convergence on the Gaussian closed form, and samples at the sliced-Wasserstein floor of exact
mixture samples."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.errors import ParamError
from studio.core.metrics import sliced_wasserstein
from studio.core.pipeline import build_solver

from .helpers import GAUSS, GMM8, network, prior, process, solve
from .test_sde_solvers import FACTOR, GMM3, N, data, gmm  # noqa: F401 (shared fixtures)


CONFIGS = [("restart", {"steps": 20}, "edm"), ("restart", {"steps": 20}, "rectified-flow"),
           ("sa-solver", {"steps": 100}, "vp-linear"), ("sa-solver", {"steps": 100}, "rectified-flow"),
           ("sa-solver", {"steps": 100, "tau": 0.5}, "edm"),
           ("pc", {"steps": 200, "corrector": "lml"}, "edm")]


@pytest.mark.parametrize("sid,kw,pid", CONFIGS, ids=[f"{s}-{len(k)}-{p}" for s, k, p in CONFIGS])
def test_samples_at_noise_floor(gmm, data, pid, sid, kw):
    proc = process(pid)
    _, res = solve(sid, proc, gmm, prior(proc, N, seed=7), seed=11, **kw)
    sw = float(sliced_wasserstein(res.samples, data[0]))
    assert sw <= FACTOR * data[1], f"{sid} {kw} on {pid}: SW {sw:.4f}, floor {data[1]:.4f}"


def test_restart_without_restarts_is_heun():
    proc, net = process("edm"), network("gmm", **GMM8)
    x_T = prior(proc, 32)
    _, a = solve("restart", proc, net, x_T, steps=12, restart_k=0)
    _, b = solve("heun", proc, net, x_T, steps=12)
    assert torch.equal(a.samples, b.samples)
    _, c = solve("restart", proc, net, x_T, steps=12)
    assert not torch.allclose(a.samples, c.samples) and c.nfe == 2 * 12 + 2 * 2 * 4 + 1
    with pytest.raises(ParamError, match="restart_tmin"):
        build_solver("restart", {"restart_tmin": 1.0, "restart_tmax": 0.5}, "s")


def test_sa_solver_first_order_deterministic_is_ddim():
    for pid in ("edm", "vp-linear", "rectified-flow"):
        proc, net = process(pid), network("gmm", **GMM8)
        x_T = prior(proc, 32)
        _, a = solve("sa-solver", proc, net, x_T, steps=10, tau=0.0, predictor_order=1,
                     corrector_order=0)
        _, b = solve("ddim", proc, net, x_T, steps=10)
        torch.testing.assert_close(a.samples, b.samples, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("p,c,order", [(1, 2, 2), (2, 3, 3), (3, 0, 3), (3, 4, 4)])
def test_sa_solver_order_at_tau_zero(p, c, order):
    """min(c, p + 1) on the Gaussian closed form (c = 0: the predictor alone, order p)."""
    proc, net = process("edm"), network("gaussian", **GAUSS)
    x_T = prior(proc)
    ns = [32, 64, 128, 256]
    errs = []
    for n in ns:
        run, res = solve("sa-solver", proc, net, x_T, steps=n, schedule="karras", tau=0.0,
                         predictor_order=p, corrector_order=c)
        exact = net.ode_denoised(x_T, run.ts[0], run.ts[-1], proc)
        errs.append(float((res.samples - exact).pow(2).mean().sqrt()))
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - order) <= 0.3, f"p={p} c={c}: slope {slope:.2f}, errors {errs}"


def test_lml_with_huge_damping_is_langevin():
    proc, net = process("vp-linear"), network("gmm", **GMM8)
    x_T = prior(proc, 64)
    _, a = solve("pc", proc, net, x_T, steps=15, seed=5, corrector="lml", damping=1e14)
    _, b = solve("pc", proc, net, x_T, steps=15, seed=5)
    torch.testing.assert_close(a.samples, b.samples, rtol=1e-7, atol=1e-7)
    _, c = solve("pc", proc, net, x_T, steps=15, seed=5, corrector="lml", damping=1.0)
    assert not torch.allclose(b.samples, c.samples, atol=1e-3)

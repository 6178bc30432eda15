"""DPM-Solver-v3: with the data-prediction statistics (l = 1, s = b = 0) it is DDIM / DPM-Solver++
exactly; its measured statistics are the model's (l = the diagonal of sigma d eps/dx, exact for
Gaussian data); with them it beats the data-prediction form at equal steps on the closed form."""
from __future__ import annotations

import pytest
import torch

from studio.core.model import Denoiser
from studio.core.solvers import dpm_solver_v3 as v3

from .helpers import GAUSS, GMM8, network, prior, process, solve


def _err(proc, net, x_T, steps, order):
    run, res = solve("dpm-solver-v3", proc, net, x_T, steps=steps, schedule="karras",
                     solver_order=order)
    exact = net.ode_denoised(x_T, run.ts[0], run.ts[-1], proc)
    return float((res.samples - exact).pow(2).mean().sqrt())


@pytest.fixture
def data_prediction_stats(monkeypatch):
    orig = v3.measure_ems

    def fixed(model, ts, n, refine, seed=0, stats="l"):
        e = orig(model, ts, 8, refine, seed)
        return v3.EMS(e.knots, torch.ones_like(e.l), torch.zeros_like(e.s), torch.zeros_like(e.b))
    monkeypatch.setattr(v3, "measure_ems", fixed)


@pytest.mark.parametrize("pid", ["edm", "vp-linear", "rectified-flow"])
def test_data_prediction_statistics_give_ddim(pid, data_prediction_stats):
    proc, net = process(pid), network("gmm", **GMM8)
    x_T = prior(proc, 32)
    _, a = solve("dpm-solver-v3", proc, net, x_T, steps=10, solver_order=1)
    _, b = solve("ddim", proc, net, x_T, steps=10)
    torch.testing.assert_close(a.samples, b.samples, rtol=1e-9, atol=1e-9)


def test_measured_l_is_the_diagonal_of_the_exact_jacobian():
    proc, net = process("edm"), network("gaussian", **GAUSS)
    ts = torch.tensor([80.0, 3.0, 1.0, 0.3, 0.002], dtype=torch.float64)
    ems = v3.measure_ems(Denoiser(net, proc), ts, 512, 2)
    cov = torch.tensor(GAUSS["cov"], dtype=torch.float64)
    for lam, ell in zip(ems.knots, ems.l):
        sig = float(torch.exp(-torch.tensor(lam)))
        want = torch.diagonal(sig ** 2 * torch.linalg.inv(cov + sig ** 2 * torch.eye(2)))
        assert float((ell - want).abs().max()) < 0.05, (sig, ell, want)


def test_statistics_beat_the_data_prediction_form():
    proc, net = process("edm"), network("gaussian", **GAUSS)
    x_T = prior(proc)
    ours = [_err(proc, net, x_T, n, 3) for n in (16, 32, 64)]
    orig = v3.measure_ems
    try:
        v3.measure_ems = lambda m, ts, n, r, seed=0, stats="l": (lambda e: v3.EMS(
            e.knots, torch.ones_like(e.l), 0 * e.s, 0 * e.b))(orig(m, ts, 8, r, seed))
        plain = [_err(proc, net, x_T, n, 3) for n in (16, 32, 64)]
    finally:
        v3.measure_ems = orig
    assert all(a < 0.8 * b for a, b in zip(ours, plain)), (ours, plain)

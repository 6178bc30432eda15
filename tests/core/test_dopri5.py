"""The adaptive dopri5 solver: against scipy's solve_ivp; its tolerance, budget and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.errors import ParamError, StudioError
from studio.core.model import Denoiser
from studio.core.pipeline import build_solver
from studio.core.runner import SamplingRun

from .helpers import GAUSS, GMM8, network, prior, process, solve


def test_matches_scipy_solve_ivp_on_the_gmm_pf_ode():
    """rtol = atol = 1e-10 against DOP853 at 1e-12 on the GMM's probability-flow ODE."""
    integrate = pytest.importorskip("scipy.integrate")
    proc = process("vp-linear")
    net = network("gmm", **GMM8)
    x_T = prior(proc, 6)
    den = Denoiser(net, proc)
    t0, t1 = proc.t_max, proc.t_min

    def rhs(t, y):
        x = torch.as_tensor(y, dtype=torch.float64).reshape(x_T.shape)
        return den(x, t).velocity.reshape(-1).numpy()

    ref = integrate.solve_ivp(rhs, (t0, t1), x_T.reshape(-1).numpy(), method="DOP853",
                              rtol=1e-12, atol=1e-12)
    assert ref.success
    _, res = solve("dopri5", proc, net, x_T, rtol=1e-10, atol=1e-10, denoise_final=False)
    diff = np.abs(res.samples.reshape(-1).numpy() - ref.y[:, -1]).max()
    assert diff < 1e-6, diff


def test_error_follows_the_tolerance():
    """Against the closed-form PF-ODE of Gaussian data: tighter tolerance, smaller error."""
    proc = process("edm")
    net = network("gaussian", **GAUSS)
    x_T = prior(proc)
    errs = []
    for tol in (1e-4, 1e-6, 1e-8):
        run, res = solve("dopri5", proc, net, x_T, rtol=tol, atol=tol)
        exact = net.ode_denoised(x_T, run.ts[0], run.ts[-1], proc)
        errs.append(float((res.samples - exact).abs().max()))
    assert errs[0] < 1e-3 and errs[1] < errs[0] / 20 and errs[2] < errs[1] / 20, errs


def test_steps_times_progress_and_evaluations():
    proc = process("vp-linear")
    net = network("gmm", **GMM8)
    solver = build_solver("dopri5", {"rtol": 1e-6, "atol": 1e-6}, "dopri5")
    run = SamplingRun(Denoiser(net, proc), solver, prior(proc, 16))
    events = list(run)
    res = run.result
    assert [e.index for e in events] == list(range(len(events)))
    ts = [e.t for e in events]
    assert ts[0] == proc.t_max and ts[-1] == proc.t_min and all(a > b for a, b in zip(ts, ts[1:]))
    assert all(e.index <= e.steps for e in events) and events[-1].fraction == 1.0
    assert torch.equal(res.t, torch.tensor(ts, dtype=torch.float64))
    # 1 + 1 evaluations to start (first stage, step-size probe), 6 per step tried (FSAL), none
    # more for the final denoise: it reuses the last stage
    assert res.nfe >= 2 + 6 * (len(events) - 1) and (res.nfe - 2) % 6 == 0


def test_nfe_is_a_cap():
    proc = process("edm")
    net = network("gmm", **GMM8)
    _, res = solve("dopri5", proc, net, prior(proc, 8), rtol=1e-3, atol=1e-3)
    _, capped = solve("dopri5", proc, net, prior(proc, 8), rtol=1e-3, atol=1e-3, nfe=res.nfe)
    assert torch.equal(res.samples, capped.samples)
    with pytest.raises(StudioError, match=r"dopri5 needs more than nfe=20 .*t="):
        solve("dopri5", proc, net, prior(proc, 8), nfe=20)


def test_max_steps_and_bad_params_are_named():
    proc = process("edm")
    net = network("gmm", **GMM8)
    with pytest.raises(StudioError, match=r"dopri5 took more than max_steps=3 .*t="):
        solve("dopri5", proc, net, prior(proc, 8), max_steps=3)
    with pytest.raises(ParamError, match="steps"):
        build_solver("dopri5", {"steps": 10}, "dopri5")
    with pytest.raises(ParamError, match="rtol"):
        build_solver("dopri5", {"rtol": 0.0}, "dopri5")

"""The 'optimized' schedule: fitted to the model and solver, better than its start, cached, and
reachable from pipelines through Solver.times(process, model=...)."""
from __future__ import annotations

import pytest
import torch

from studio.core import schedule_opt
from studio.core.errors import ParamError
from studio.core.model import Denoiser
from studio.core.pipeline import build_solver
from studio.core.runner import SamplingRun
from studio.core.schedule_opt import optimize_schedule

from .helpers import GMM8, network, prior, process

FAST = {"particles": 128, "evaluations": 60}


def _endpoint_rmse(den, solver, x_T, ts):
    ref, _ = schedule_opt._reference(den, x_T, den.process.t_max, den.process.t_min, True, 1e-9)
    out = SamplingRun(den, solver, x_T, ts=ts).run().samples
    return float((out - ref).pow(2).mean().sqrt())


def test_optimized_beats_karras_on_held_out_noise():
    """dpm-solver++(2M), 5 steps on the 8-mode GMM (EDM): the fitted grid at least halves the
    endpoint RMSE of Karras' grid, measured on prior samples the fit never saw."""
    proc = process("edm")
    den = Denoiser(network("gmm", **GMM8), proc)
    solver = build_solver("dpm-solver++-2m", {"steps": 5}, "s")
    fit = optimize_schedule(den, solver, 5, particles=128, evaluations=80)
    assert fit.error <= fit.initial_error and fit.evaluations <= 80
    ts = fit.times
    assert len(ts) == 6 and bool(torch.all(ts[1:] < ts[:-1]))
    assert float(ts[0]) == proc.t_max and float(ts[-1]) == proc.t_min
    x_T = prior(proc, 400, seed=99)
    karras = _endpoint_rmse(den, solver, x_T, solver.times(proc))
    fitted = _endpoint_rmse(den, solver, x_T, ts)
    assert fitted < 0.5 * karras, (fitted, karras)


def test_through_a_run_and_cached(monkeypatch):
    schedule_opt.clear_cache()
    proc = process("vp-linear")
    net = network("gmm", **GMM8)
    solver = build_solver("ddim", {"nfe": 6, "schedule": "optimized", **FAST}, "s")
    calls = []
    real = schedule_opt.optimize_schedule
    monkeypatch.setattr(schedule_opt, "optimize_schedule",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    a = SamplingRun(Denoiser(net, proc), solver, prior(proc, 16)).run()
    b = SamplingRun(Denoiser(net, proc), solver, prior(proc, 16, seed=5)).run()
    assert len(calls) == 1  # the same model + solver + n reuses the fit
    assert torch.equal(a.t, b.t) and len(a.t) == solver.num_steps() + 1
    other = build_solver("ddim", {"nfe": 7, "schedule": "optimized", **FAST}, "s")
    SamplingRun(Denoiser(net, proc), other, prior(proc, 16)).run()
    assert len(calls) == 2  # another step count is another fit


@pytest.mark.parametrize("pid", ["rectified-flow", "ddpm-discrete"])
def test_other_processes(pid):
    """Works where alpha(t_max) = 0 (log-SNR -inf) and on the discrete table."""
    proc = process(pid)
    den = Denoiser(network("gmm", **GMM8), proc)
    solver = build_solver("heun", {"steps": 4}, "s")
    fit = optimize_schedule(den, solver, 4, particles=64, evaluations=25)
    assert fit.error <= fit.initial_error
    assert bool(torch.all(fit.times[1:] < fit.times[:-1]))
    assert float(fit.times[0]) == proc.t_max and float(fit.times[-1]) == proc.t_min


def test_errors_name_the_place():
    proc = process("edm")
    den = Denoiser(network("gmm", **GMM8), proc)
    solver = build_solver("euler", {"steps": 4, "schedule": "optimized"}, "s")
    with pytest.raises(ParamError, match="schedule.*needs the model"):
        solver.times(proc)  # no model given
    with pytest.raises(ParamError, match="deterministic solver"):
        optimize_schedule(den, build_solver("ddpm", {"steps": 4}, "s"), 4)
    with pytest.raises(ParamError, match="init"):
        optimize_schedule(den, build_solver("euler", {"steps": 4}, "s"), 4, init="custom")
    with pytest.raises(ParamError, match="particles"):
        build_solver("euler", {"schedule": "optimized", "particles": 0}, "s")


def test_gradient_fit_beats_compass_with_fewer_solves():
    """L-BFGS through the differentiable solve (the default) reaches an error at least as low as
    the compass search's on the same particles, with fewer solves; the times stay monotone."""
    proc = process("edm")
    den = Denoiser(network("gmm", **GMM8), proc)
    solver = build_solver("ipndm", {"steps": 6}, "s")
    grad = optimize_schedule(den, solver, 6, particles=96, evaluations=150)
    comp = optimize_schedule(den, solver, 6, particles=96, evaluations=150, method="compass")
    assert grad.method == "gradient" and grad.gradients > 0 and comp.method == "compass"
    assert grad.error <= comp.error * 1.02 and grad.evaluations < comp.evaluations
    assert bool(torch.all(grad.times[1:] < grad.times[:-1])) and grad.seconds > 0
    assert float(grad.times[0]) == proc.t_max and float(grad.times[-1]) == proc.t_min


def test_gradient_fit_falls_back_where_the_gradient_is_not_exact():
    """UniPC computes its coefficients from plain numbers (no gradient in the times): the fit
    notices (finite-difference check) and runs the compass search instead."""
    den = Denoiser(network("gmm", **GMM8), process("edm"))
    fit = optimize_schedule(den, build_solver("unipc", {"steps": 4}, "s"), 4, particles=32,
                            evaluations=30)
    assert fit.method == "compass" and fit.error <= fit.initial_error


def test_gradient_check_detects_partial_gradients():
    from studio.core.difffit import gradient_is_exact
    z = torch.tensor([0.3, -0.2], dtype=torch.float64)
    assert gradient_is_exact(lambda v: (v ** 2).sum() + torch.sin(v[0]), z)
    # the second coordinate enters through a float: autograd misses its part of the derivative
    assert not gradient_is_exact(lambda v: (v ** 2).sum() * float(v[1].detach() + 2.0), z)
    assert not gradient_is_exact(lambda v: torch.tensor(float(v.sum().detach())), z)

"""Conformance of every registered process: derivatives, log-SNR inverse, SDE coefficients."""
from __future__ import annotations

import pytest
import torch

from studio.core.params import build, to_params
from studio.core.processes.base import as_time
from studio.core.registry import PROCESSES

from .helpers import process

PIDS = PROCESSES.ids()


def interior(p, n=9):
    return torch.linspace(p.t_min, p.t_max, n + 2, dtype=torch.float64)[1:-1]


@pytest.mark.parametrize("pid", PIDS)
def test_derivatives_match_finite_differences(pid):
    p = process(pid)
    t = interior(p)
    h = 1e-6 * (p.t_max - p.t_min)
    for f, df in ((p.alpha, p.dalpha), (p.sigma, p.dsigma)):
        fd = (f(t + h) - f(t - h)) / (2 * h)
        torch.testing.assert_close(df(t), fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("pid", PIDS)
def test_logsnr_inverse_and_monotone(pid):
    p = process(pid)
    t = interior(p, 25)
    lam = p.logsnr(t)
    assert torch.all(lam[1:] < lam[:-1]), "log-SNR must decrease with t"
    torch.testing.assert_close(p.t_of_logsnr(lam), t, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(lam, 2 * torch.log(p.alpha(t) / p.sigma(t)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pid", PIDS)
def test_sde_coefficients_reproduce_marginal_variance(pid):
    """d/dt Var = 2 f Var + g^2 for Var = alpha^2 v + sigma^2 (data variance v)."""
    p = process(pid)
    t = interior(p)
    v = 0.7
    var = lambda s: p.alpha(s) ** 2 * v + p.sigma(s) ** 2  # noqa: E731
    h = 1e-6 * (p.t_max - p.t_min)
    dvar = (var(t + h) - var(t - h)) / (2 * h)
    torch.testing.assert_close(dvar, 2 * p.f(t) * var(t) + p.g2(t), rtol=1e-5, atol=1e-6)
    assert torch.all(p.g2(t) > 0)


@pytest.mark.parametrize("pid", PIDS)
def test_params_round_trip(pid):
    p = process(pid)
    again = build(PROCESSES.get(pid), to_params(p), pid)
    assert to_params(again) == to_params(p)


def test_prior_scales():
    assert process("edm").prior_std == 80.0
    assert process("vp-linear").prior_std == 1.0
    assert process("rectified-flow").prior_std == 1.0
    assert abs(process("ve").prior_std - 50.0) < 1e-9


def test_known_values():
    vp = process("vp-linear")
    t = as_time(0.5)
    expected = torch.exp(torch.tensor(-0.25 * 0.25 * 19.9 - 0.5 * 0.5 * 0.1, dtype=torch.float64))
    torch.testing.assert_close(vp.alpha(t), expected)
    rf = process("rectified-flow")
    assert float(rf.alpha(as_time(0.25))) == 0.75 and float(rf.sigma(as_time(0.25))) == 0.25


def test_ddpm_discrete_matches_table_at_integers():
    p = process("ddpm-discrete", beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    acp = torch.cumprod(1 - betas, 0)
    k = torch.tensor([0, 1, 17, 500, 998, 999], dtype=torch.float64)
    torch.testing.assert_close(p.alpha(p.timestep_to_t(k)) ** 2, acp[k.long()], rtol=1e-12, atol=0)


def test_bad_params_are_named():
    from studio.core.errors import ParamError
    with pytest.raises(ParamError, match="edm.params.sigma_min"):
        build(PROCESSES.get("edm"), {"sigma_min": "x"}, "edm.params")
    with pytest.raises(ParamError, match="sigma_min < sigma_max"):
        build(PROCESSES.get("edm"), {"sigma_min": 5, "sigma_max": 1}, "edm.params")

"""Exact round trips between eps, x0, v, score and velocity for every process."""
from __future__ import annotations

import itertools

import pytest
import torch

from studio.core.model import Denoiser
from studio.core.parameterization import KINDS, Coeffs, convert, from_x0_eps, to_x0_eps
from studio.core.registry import PROCESSES

from .helpers import GMM8, network, process


@pytest.mark.parametrize("pid", PROCESSES.ids())
@pytest.mark.parametrize("src,dst", list(itertools.permutations(KINDS, 2)))
def test_round_trip(pid, src, dst):
    p = process(pid)
    g = torch.Generator().manual_seed(1)
    t = torch.tensor(0.3 * p.t_min + 0.7 * (p.t_min + p.t_max) / 2, dtype=torch.float64)
    a, s, da, ds = p.coeffs(t)
    c = Coeffs(a, s, da, ds)
    x0 = torch.randn(16, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(16, 3, generator=g, dtype=torch.float64)
    x = a * x0 + s * eps
    pred = from_x0_eps(src, x0, eps, c)
    back = convert(convert(pred, src, dst, x, c), dst, src, x, c)
    torch.testing.assert_close(back, pred, rtol=1e-9, atol=1e-9)
    x0b, epsb = to_x0_eps(src, pred, x, c)
    torch.testing.assert_close(x0b, x0, rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(epsb, eps, rtol=1e-8, atol=1e-8)


def test_velocity_is_pf_ode_drift():
    """u = f x - g^2/2 score: the PF-ODE written with the SDE coefficients."""
    p = process("vp-linear")
    net = network("gmm", **GMM8)
    den = Denoiser(net, p)
    t = torch.tensor(0.4, dtype=torch.float64)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pred = den(x, t)
    drift = p.f(t) * x - 0.5 * p.g2(t) * net.score(x, t, p)
    torch.testing.assert_close(pred.velocity, drift, rtol=1e-9, atol=1e-9)


def test_velocity_conversion_defined_where_alpha_vanishes():
    p = process("rectified-flow")
    t = torch.tensor(1.0, dtype=torch.float64)
    c = Coeffs(*p.coeffs(t))
    x = torch.randn(4, 2, dtype=torch.float64)
    x0 = torch.randn(4, 2, dtype=torch.float64)
    u = from_x0_eps("velocity", x0, x, c)  # at t = 1, x = eps
    torch.testing.assert_close(convert(u, "velocity", "x0", x, c), x0)

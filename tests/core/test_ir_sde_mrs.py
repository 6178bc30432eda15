"""IR-SDE and its MRS sampler: the process's marginals are the mean-reverting SDE's closed form,
MRS is DPM-Solver++(2M) / its SDE variant exactly when mu = 0, and its SDE mode reaches the
sliced-Wasserstein floor of exact mixture samples."""
from __future__ import annotations

import math

import torch

from studio.core.metrics import sliced_wasserstein

from .helpers import GMM8, network, prior, process, solve
from .test_sde_solvers import FACTOR, GMM3, N


def test_marginals_are_the_mean_reverting_closed_form():
    p = process("ir-sde", lam=0.7, theta_max=4.0, theta_schedule="linear")
    t = torch.linspace(0.05, 1.0, 7, dtype=torch.float64)
    tb = 4.0 * t * t
    torch.testing.assert_close(p.alpha(t), torch.exp(-tb))
    torch.testing.assert_close(p.sigma(t) ** 2, 0.49 * (1 - torch.exp(-2 * tb)))
    # the SDE dx = -theta x dt + sqrt(2 lam^2 theta) dW: f = -theta, g^2 = 2 lam^2 theta
    theta = 8.0 * t
    torch.testing.assert_close(p.f(t), -theta)
    torch.testing.assert_close(p.g2(t), 2 * 0.49 * theta)
    assert abs(p.prior_std - 0.7 * math.sqrt(1 - math.exp(-8.0))) < 1e-12


def test_mrs_with_zero_mean_is_dpm_solver_pp():
    proc, net = process("ir-sde"), network("gmm", **GMM8)
    x_T = prior(proc, 32)
    _, a = solve("mrs", proc, net, x_T, steps=12, mode="ode")
    _, b = solve("dpm-solver++-2m", proc, net, x_T, steps=12)
    torch.testing.assert_close(a.samples, b.samples, rtol=1e-9, atol=1e-9)
    _, c = solve("mrs", proc, net, x_T, steps=12, seed=4)
    _, d = solve("dpm-solver++-2m-sde", proc, net, x_T, steps=12, seed=4)
    torch.testing.assert_close(c.samples, d.samples, rtol=1e-9, atol=1e-9)


def test_mrs_sde_reaches_the_floor():
    gmm = network("gmm", **GMM3)
    g = torch.Generator().manual_seed(1234)
    ref = gmm.sample(N, g)
    floor = sum(float(sliced_wasserstein(ref, gmm.sample(N, g))) for _ in range(3)) / 3
    proc = process("ir-sde")
    _, res = solve("mrs", proc, gmm, prior(proc, N, seed=7), steps=50, seed=11)
    assert float(sliced_wasserstein(res.samples, ref)) <= FACTOR * floor

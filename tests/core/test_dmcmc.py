"""Denoising MCMC: the noise-level exchange's log-ratio against the mixture's exact log-density,
the lowest level's samples against exact diffused samples, the final samples at the
sliced-Wasserstein floor of exact mixture samples, and its exact reduction to its integrator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.errors import ParamError
from studio.core.metrics import sliced_wasserstein
from studio.core.model import Denoiser
from studio.core.pipeline import build_solver
from studio.core.solvers.base import SolveContext
from studio.core.solvers.dmcmc import lobatto

from .helpers import GMM8, network, prior, process, solve
from .test_sde_solvers import FACTOR, GMM3, N, data, gmm  # noqa: F401 (shared fixtures)


def _ctx(net, proc, seed=0):
    g = torch.Generator().manual_seed(seed)
    return SolveContext(Denoiser(net, proc), lambda x: torch.randn(x.shape, generator=g,
                                                                   dtype=torch.float64).to(x.dtype))


def test_lobatto_rule():
    for n in (2, 3, 5, 8):
        u, w = lobatto(n)
        assert u[0] == 0.0 and u[-1] == 1.0 and abs(w.sum() - 1.0) < 1e-13
        deg = 2 * n - 3
        assert abs((w * u ** deg).sum() - 1.0 / (deg + 1)) < 1e-12


@pytest.mark.parametrize("pid", ["edm", "vp-linear"])
def test_swap_log_ratio_matches_exact_log_density(gmm, pid):
    """The exchange exponent, from line integrals of the denoiser's score, equals
    log p_a(x_b) + log p_b(x_a) - log p_a(x_a) - log p_b(x_b) from the mixture's log p_t."""
    proc = process(pid)
    solver = build_solver("dmcmc", {}, "dmcmc")
    ctx = _ctx(gmm, proc)
    lad = solver.ladder(proc, solver.times_for(ctx.model))
    g = torch.Generator().manual_seed(5)
    ka, kb = torch.arange(0, len(lad) - 1), torch.arange(1, len(lad))
    X = torch.stack([proc.marginal_sample(gmm.sample(64, g), t,
                                          torch.randn(64, 2, generator=g, dtype=torch.float64))
                     for t in lad])
    lp = lambda x, t: gmm.log_prob(x, t, proc)  # noqa: E731
    exact = torch.stack([lp(X[b], lad[a]) + lp(X[a], lad[b]) - lp(X[a], lad[a]) - lp(X[b], lad[b])
                         for a, b in zip(ka.tolist(), kb.tolist())])
    errs = {}
    for q in (8, 16):
        u, w = (torch.as_tensor(v) for v in lobatto(q))
        got, _ = solver.swap_log_ratio(ctx, X[ka], X[kb], lad[ka], lad[kb], u, w)
        errs[q] = (got - exact).abs()
    # spectral convergence of the quadrature (measured: mean 6e-4 -> 2e-6, max 0.15 -> 2e-3)
    assert float(errs[8].mean()) < 2e-3 and float(errs[16].mean()) < 1e-5
    assert float(errs[16].max()) < 1e-2 < float(exact.abs().max())


def test_lowest_level_is_the_exact_marginal(gmm, data):
    """The replicas at the lowest level are draws of p_t there: SW to exact diffused samples at
    the floor, and mixture weights (mean exact component posterior) at the true ones."""
    proc = process("vp-linear")
    solver = build_solver("dmcmc", {"steps": 20}, "dmcmc")
    ctx = _ctx(gmm, proc, seed=11)
    lad = solver.ladder(proc, solver.times_for(ctx.model))
    xl = solver.mcmc(ctx, prior(proc, N, seed=7), lad, 40)
    g = torch.Generator().manual_seed(99)
    exact = proc.marginal_sample(gmm.sample(N, g), lad[-1],
                                 torch.randn(N, 2, generator=g, dtype=torch.float64))
    assert float(sliced_wasserstein(xl, exact)) <= FACTOR * data[1]
    weights = gmm.component_log_posterior(xl, lad[-1], proc).exp().mean(0)
    torch.testing.assert_close(weights, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64),
                               rtol=0, atol=0.03)


def test_samples_at_noise_floor(gmm, data, pid="edm"):
    """(The lowest level's samples are checked on vp-linear above.)"""
    proc = process(pid)
    _, res = solve("dmcmc", proc, gmm, prior(proc, N, seed=7), seed=11, steps=20)
    sw = float(sliced_wasserstein(res.samples, data[0]))
    assert sw <= FACTOR * data[1], f"dmcmc on {pid}: SW {sw:.4f}, floor {data[1]:.4f}"
    assert res.nfe == 1 + 2 * 40 + 21


def test_without_mcmc_is_the_integrator():
    proc, net = process("vp-linear"), network("gmm", **GMM8)
    x_T = prior(proc, 32)
    for integ in ("dpm-solver++-2m", "heun"):
        _, a = solve("dmcmc", proc, net, x_T, steps=8, mcmc_steps=0, integrator=integ)
        _, b = solve(integ, proc, net, x_T, steps=8)
        assert torch.equal(a.samples, b.samples) and a.nfe == b.nfe


def test_bad_params():
    with pytest.raises(ParamError, match="sigma_min"):
        build_solver("dmcmc", {"sigma_min": 2.0, "sigma_max": 1.0}, "s")
    with pytest.raises(ParamError, match="integrator"):
        build_solver("dmcmc", {"integrator": "dopri5"}, "s")
    with pytest.raises(Exception, match="integrator"):
        build_solver("dmcmc", {"integrator": "nope"}, "s")
    assert np.isfinite(build_solver("dmcmc", {"nfe": 30}, "s").num_steps())

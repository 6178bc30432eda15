"""Stochastic interpolants: the coefficient menu, and the SDE family's marginals at intermediate
times against exact mixture marginals for several epsilon (epsilon = 0 is the ODE)."""
from __future__ import annotations

import pytest
import torch

from studio.core.errors import ParamError
from studio.core.metrics import sliced_wasserstein
from studio.core.model import Denoiser
from studio.core.pipeline import build_solver
from studio.core.runner import SamplingRun

from .helpers import network, process
from .test_sde_solvers import FACTOR, GMM3

N = 2000


@pytest.fixture(scope="module")
def gmm():
    return network("gmm", **GMM3)


def exact_marginal(gmm, proc, t, seed):
    g = torch.Generator().manual_seed(seed)
    x0 = gmm.sample(N, g)
    tt = torch.tensor(t, dtype=torch.float64)
    return proc.alpha(tt) * x0 + proc.sigma(tt) * torch.randn(N, 2, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("eps,shape,t_stop", [(0.0, "sigma2", 0.3), (0.5, "sigma2", 0.6),
                                              (2.0, "sigma2", 0.3), (0.3, "constant", 0.6),
                                              (1.0, "bump", 0.45)])
def test_sde_family_keeps_the_marginals(gmm, eps, shape, t_stop):
    proc = process("interpolant", alpha_fn="trig", beta_fn="linear", gamma_fn="bump",
                   gamma_scale=0.5, epsilon_scale=eps, epsilon_fn=shape)
    ts = torch.linspace(1.0, t_stop, 101, dtype=torch.float64)
    x1 = torch.randn(N, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    solver = build_solver("euler-maruyama", {"denoise_final": False}, "s")
    out = SamplingRun(Denoiser(gmm, proc), solver, x1, seed=4, ts=ts).run().samples
    ref = exact_marginal(gmm, proc, t_stop, 10)
    floor = sum(float(sliced_wasserstein(ref, exact_marginal(gmm, proc, t_stop, 11 + k)))
                for k in range(3)) / 3
    sw = float(sliced_wasserstein(out, ref))
    assert sw <= FACTOR * floor, f"eps {eps} {shape} at t={t_stop}: SW {sw:.4f}, floor {floor:.4f}"


def test_the_marginal_check_has_teeth(gmm):
    """The reverse SDE noise without the matching score term leaves the marginals."""
    proc = process("interpolant", epsilon_scale=2.0)
    wrong = process("interpolant", epsilon_scale=0.0)
    ts = torch.linspace(1.0, 0.5, 151, dtype=torch.float64)
    x1 = torch.randn(N, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    ref = exact_marginal(gmm, proc, 0.5, 10)
    floor = float(sliced_wasserstein(ref, exact_marginal(gmm, proc, 0.5, 11)))
    x = x1
    g = torch.Generator().manual_seed(5)
    den = Denoiser(gmm, wrong)
    for i in range(150):        # ODE drift + the SDE's noise: the score correction left out
        dt = ts[i + 1] - ts[i]
        x = x + dt * den(x, ts[i]).velocity + torch.sqrt(2 * proc.epsilon(ts[i]) * -dt) * \
            torch.randn(x.shape, generator=g, dtype=torch.float64)
    assert float(sliced_wasserstein(x, ref)) > 3 * floor


def test_menu_and_interpolate():
    p = process("interpolant", alpha_fn="linear", beta_fn="linear")
    rf = process("rectified-flow")
    t = torch.linspace(0.01, 0.99, 7, dtype=torch.float64)
    torch.testing.assert_close(p.alpha(t), rf.alpha(t))
    torch.testing.assert_close(p.sigma(t), rf.sigma(t))
    q = process("interpolant", gamma_fn="sin2", gamma_scale=0.3)
    x0, x1, z = torch.ones(2), 2 * torch.ones(2), 3 * torch.ones(2)
    tt = torch.tensor(0.25, dtype=torch.float64)
    want = q.alpha(tt) * x0 + q.beta(tt) * x1 + q.gamma(tt) * z
    torch.testing.assert_close(q.interpolate(x0, x1, z, tt), want)
    torch.testing.assert_close(q.sigma(tt) ** 2, q.beta(tt) ** 2 + q.gamma(tt) ** 2)
    with pytest.raises(ParamError, match="gamma_scale"):
        process("interpolant", alpha_fn="trig", beta_fn="square", gamma_fn="sin2",
                gamma_scale=5.0)

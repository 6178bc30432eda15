"""PFGM++: the kernel's samples have the beta-prime radius law, the empirical network is the exact
posterior mean under the kernel (the minimiser of the denoising loss, orthogonal residuals), and
D -> inf is the EDM run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from studio.core.model import Denoiser
from studio.core.pipeline import Pipeline

from .helpers import network, process

PTS = (torch.randn(12, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
       * 1.5).tolist()


def test_kernel_radius_is_beta_prime():
    """R^2 / r^2 ~ BetaPrime(N/2, D/2) for the perturbation x - y (N = 3, D = 5)."""
    proc = process("pfgm++", D=5.0)
    torch.manual_seed(0)
    noise = torch.randn(20000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = proc.marginal_sample(torch.zeros(20000, 3, dtype=torch.float64),
                             torch.tensor(2.0, dtype=torch.float64), noise)
    ratio = (x.norm(dim=1) ** 2 / (4.0 * 5.0)).numpy()
    assert stats.kstest(ratio, stats.betaprime(1.5, 2.5).cdf).pvalue > 1e-3


@pytest.mark.parametrize("sigma", [0.7, 2.0])
def test_empirical_network_is_the_exact_posterior_mean_under_the_kernel(sigma):
    proc = process("pfgm++", D=3.0)
    emp = network("empirical", data=PTS)
    pts = torch.tensor(PTS, dtype=torch.float64)
    n = 40000
    idx = torch.randint(0, len(pts), (n,), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    y = pts[idx]
    x = proc.marginal_sample(y, torch.tensor(sigma, dtype=torch.float64),
                             torch.randn(n, 2, generator=torch.Generator().manual_seed(4),
                                         dtype=torch.float64))
    t = torch.tensor(sigma, dtype=torch.float64)
    exact = Denoiser(emp, proc)(x, t).x0
    gauss = Denoiser(emp, process("edm"))(x, t).x0      # the Gaussian-kernel posterior mean
    loss = lambda d: float(((d - y) ** 2).sum(1).mean())  # noqa: E731
    assert loss(exact) < loss(gauss)
    # orthogonality: E[(y - D(x)) . h(x)] = 0 for the exact D, within 4 standard errors
    for h in (x, gauss, exact):
        prod = ((y - exact) * h).sum(1)
        assert abs(float(prod.mean())) < 4 * float(prod.std()) / math.sqrt(n)
    prod = ((y - gauss) * x).sum(1)
    assert abs(float(prod.mean())) > 4 * float(prod.std()) / math.sqrt(n)


def _run(process_kind, params, solver="heun"):
    nodes = {"p": {"type": "process", "kind": process_kind, "params": params},
             "n": {"type": "network", "kind": "empirical", "params": {"data": PTS}},
             "s": {"type": "solver", "kind": solver, "params": {"steps": 25}}}
    return Pipeline.from_dict({"format": "studio.pipeline/1", "nodes": nodes,
                               "links": [["p", "n"], ["n", "s"]],
                               "run": {"batch": 64, "seed": 1}}).build().run()["s"].samples


def test_large_d_is_the_edm_run():
    edm = _run("edm", {})
    big = _run("pfgm++", {"D": 1e12})
    torch.testing.assert_close(big, edm, rtol=0, atol=1e-4)
    small = _run("pfgm++", {"D": 4.0})
    assert float((small - edm).abs().max()) > 1e-2     # a small D is a different model


def test_prior_is_heavy_tailed_for_small_d():
    proc = process("pfgm++", D=3.0, sigma_max=10.0)
    z = torch.randn(20000, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x = proc.prior_sample(z, torch.Generator().manual_seed(6))
    ratio = (x.norm(dim=1) ** 2 / (100.0 * 3.0)).numpy()
    assert stats.kstest(ratio, stats.betaprime(1.0, 1.5).cdf).pvalue > 1e-3
    assert np.isfinite(ratio).all()

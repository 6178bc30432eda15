"""Likelihood through the PF-ODE: exact against GMM log-densities, Hutchinson unbiased, bits/dim."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from studio.cli.main import main
from studio.core.errors import StudioError
from studio.core.likelihood import (LikelihoodSettings, _prepare, divergence_exact,
                                    divergence_hutchinson, log_likelihood, make_probes)
from studio.core.model import Denoiser

from .helpers import network, process


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


GMM2 = {"means": [[-2.0, 0.0], [2.0, 1.0], [0.0, 2.5]],
        "covs": [[[0.3, 0.1], [0.1, 0.2]], [[0.2, -0.05], [-0.05, 0.4]], [[0.1, 0.0], [0.0, 0.1]]],
        "weights": [0.4, 0.4, 0.2]}


@pytest.mark.parametrize("pid,prior", [("rectified-flow", "standard"), ("edm", "exact"),
                                       ("vp-linear", "exact")])
def test_nll_matches_exact_gmm_log_density(pid, prior):
    """2-D mixture: mean absolute error below 1e-3 nats (measured ~1e-6 at tolerance 1e-6).
    Rectified flow's prior at t = 1 is exactly N(0, I); EDM's and VP's are not, so those use the
    network's exact density at t_max to test the ODE part alone."""
    net, proc = network("gmm", **GMM2), process(pid)
    x = net.sample(64, torch.Generator().manual_seed(1))
    res = log_likelihood(Denoiser(net, proc), x, LikelihoodSettings(rtol=1e-6, atol=1e-6, prior=prior))
    exact = net.log_prob(x, proc.t_min, proc).numpy()
    err = np.abs(-res.nll - exact)
    assert err.mean() < 1e-3 and err.max() < 1e-2, (err.mean(), err.max())
    assert err.mean() < 1e-4  # what it actually achieves


def test_standard_prior_is_the_samplers_prior():
    """With EDM's N(0, 80^2) prior the NLL differs from the exact one only by the prior mismatch:
    prior_logp is log N(x_T; 0, 80^2 I) of the integrated endpoint."""
    net, proc = network("gmm", **GMM2), process("edm")
    x = net.sample(16, torch.Generator().manual_seed(2))
    s = LikelihoodSettings(rtol=1e-6, atol=1e-6)
    a = log_likelihood(Denoiser(net, proc), x, s)
    b = log_likelihood(Denoiser(net, proc), x, LikelihoodSettings(rtol=1e-6, atol=1e-6, prior="exact"))
    np.testing.assert_allclose(a.delta_logp, b.delta_logp)
    assert np.abs(a.nll - b.nll).max() < 0.05


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(probe):
    """At fixed (x, t) the mean of e^T J e over many probes matches the exact divergence to within
    4 standard errors, in 2-D and 6-D."""
    for dim in (2, 6):
        g = torch.Generator().manual_seed(dim)
        means = torch.randn(3, dim, generator=g, dtype=torch.float64).tolist()
        a = torch.randn(3, dim, dim, generator=g, dtype=torch.float64)
        covs = (a @ a.transpose(1, 2) / dim + 0.1 * torch.eye(dim, dtype=torch.float64)).tolist()
        net, proc = network("gmm", means=means, covs=covs), process("vp-linear")
        den = Denoiser(net, proc)
        x = torch.randn(4, dim, generator=g, dtype=torch.float64).requires_grad_(True)
        u = den(x, 0.3).velocity
        exact = divergence_exact(u, x)
        p = make_probes(probe, 1500, (4, dim), g)
        per = torch.stack([divergence_hutchinson(u, x, p[i:i + 1]) for i in range(len(p))])
        se = per.std(0) / math.sqrt(len(p))
        assert bool(((per.mean(0) - exact).abs() <= 4 * se + 1e-12).all()), (per.mean(0), exact, se)


def test_hutchinson_nll_agrees_on_average():
    net, proc = network("gmm", **GMM2), process("rectified-flow")
    x = net.sample(200, torch.Generator().manual_seed(3))
    ex = log_likelihood(Denoiser(net, proc), x, LikelihoodSettings(rtol=1e-5, atol=1e-5))
    hu = log_likelihood(Denoiser(net, proc), x, LikelihoodSettings(
        divergence="hutchinson", probes=2, rtol=1e-5, atol=1e-5))
    diff = hu.nll - ex.nll
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(len(diff)) + 1e-3
    assert diff.std() > 0  # it is an estimate, not the exact value


def test_dequantisation_and_bits_per_dim(tmp_path):
    """Image-shaped data: uniform dequantisation, NLL = -log p(x') - D log Delta, bpd =
    NLL / (D ln 2); checked against the Gaussian network's closed-form density."""
    g = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 256, (300, 1, 2, 2), generator=g)
    imgs = -1 + levels.double() * 2 / 255
    np.save(tmp_path / "train.npy", imgs.numpy())
    net = network("gaussian", data=str(tmp_path / "train.npy"))
    proc = process("rectified-flow")
    s = LikelihoodSettings(rtol=1e-6, atol=1e-6, seed=5)
    x = imgs[:10]
    res = log_likelihood(Denoiser(net, proc), x, s)
    assert res.bpd is not None and res.dim == 4
    np.testing.assert_allclose(res.bpd, res.nll / (4 * math.log(2)))
    xq, corr = _prepare(x, s, True, torch.Generator().manual_seed(5), torch.float64)
    assert corr == pytest.approx(math.log(255 / 2))
    # closed-form Gaussian marginal at t_min: N(alpha mu, alpha^2 Sigma + sigma^2 I)
    flat = imgs.reshape(300, -1)
    mu, cov = flat.mean(0), torch.cov(flat.T)
    t = torch.tensor(proc.t_min, dtype=torch.float64)
    a, sg = proc.alpha(t), proc.sigma(t)
    mvn = torch.distributions.MultivariateNormal(a * mu, a * a * cov + sg * sg * torch.eye(4))
    exact = -mvn.log_prob(xq.reshape(10, -1)).numpy() + 4 * corr
    assert np.abs(res.nll - exact).max() < 1e-3
    # uint8 input maps to the same levels
    res8 = log_likelihood(Denoiser(net, proc), levels[:10].to(torch.uint8), s)
    np.testing.assert_allclose(res8.nll, res.nll, atol=1e-9)
    with pytest.raises(StudioError, match="data_range"):
        log_likelihood(Denoiser(net, proc), x * 3, s)


def test_cli_nll(tmp_path):
    pipe = {"format": "studio.pipeline/1",
            "nodes": {"p": {"type": "process", "kind": "rectified-flow", "params": {}},
                      "n": {"type": "network", "kind": "gmm", "params": GMM2},
                      "s": {"type": "solver", "kind": "euler", "params": {}}},
            "links": [["p", "n"], ["n", "s"]], "run": {"batch": 8}}
    (tmp_path / "p.json").write_text(json.dumps(pipe))
    net = network("gmm", **GMM2)
    x = net.sample(12, torch.Generator().manual_seed(4))
    np.save(tmp_path / "x.npy", x.numpy())
    out = tmp_path / "nll.npz"
    assert main(["nll", str(tmp_path / "p.json"), "--data", str(tmp_path / "x.npy"), "--out",
                 str(out), "--quiet", "--rtol", "1e-6", "--atol", "1e-6"]) == 0
    got = np.load(out)
    assert set(got.files) >= {"nll", "prior_logp", "delta_logp", "nfe"} and "bpd" not in got.files
    exact = -net.log_prob(x, 1e-3, process("rectified-flow")).numpy()
    assert np.abs(got["nll"] - exact).mean() < 1e-3
    assert main(["nll", str(tmp_path / "p.json"), "--data", str(tmp_path / "missing.npy"),
                 "--out", str(out), "--quiet"]) == 2


def test_log_density_grid_matches_exact_heatmap():
    from studio.core.diagnostics import density_grid
    from studio.core.likelihood import log_density_grid

    net, proc = network("gmm", **GMM2), process("rectified-flow")
    den = Denoiser(net, proc)
    model = log_density_grid(den, (-3, 3), (-1, 3), 5, LikelihoodSettings(rtol=1e-6, atol=1e-6))
    exact = density_grid(den, proc.t_min, (-3, 3), (-1, 3), 5)
    assert np.abs(model.values - exact.values).max() < 1e-3

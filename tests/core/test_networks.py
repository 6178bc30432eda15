"""Analytic networks against brute force and closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.errors import ParamError
from studio.core.model import Denoiser

from .helpers import network, process


def test_gmm_denoiser_equals_monte_carlo_posterior_mean():
    """E[x0 | x_t] by importance weighting exact data samples with the likelihood p(x_t | x0)."""
    net = network("gmm", means=[[-2.0, 0.0], [2.0, 1.0], [0.0, 3.0]],
                  covs=[[[0.5, 0.2], [0.2, 0.4]], [[0.3, 0.0], [0.0, 0.6]], [[0.2, -0.1], [-0.1, 0.3]]],
                  weights=[0.2, 0.5, 0.3])
    p = process("vp-linear")
    g = torch.Generator().manual_seed(0)
    x0s = net.sample(400_000, g)
    t = torch.tensor(0.35, dtype=torch.float64)
    a, s = p.alpha(t), p.sigma(t)
    xt = torch.tensor([[0.3, 0.5], [-1.0, 0.2], [1.2, 1.5]], dtype=torch.float64)
    logw = -0.5 * ((xt[:, None, :] - a * x0s[None]) ** 2).sum(-1) / s ** 2
    w = torch.softmax(logw, dim=1)
    mc = w @ x0s
    exact = net.predict(xt, t, p)
    torch.testing.assert_close(exact, mc, atol=0.02, rtol=0)


def test_gmm_log_prob_and_samples():
    net = network("gmm", means=[[0.0], [4.0]], vars=[[1.0], [0.25]], weights=[0.25, 0.75])
    x = torch.linspace(-3, 6, 7, dtype=torch.float64)[:, None]
    n1 = torch.distributions.Normal(0.0, 1.0).log_prob(x[:, 0]).exp()
    n2 = torch.distributions.Normal(4.0, 0.5).log_prob(x[:, 0]).exp()
    torch.testing.assert_close(net.log_prob(x), torch.log(0.25 * n1 + 0.75 * n2))
    s = net.sample(200_000, torch.Generator().manual_seed(0))
    assert abs(float(s.mean()) - 3.0) < 0.02


def test_gmm_score_is_gradient_of_log_prob():
    net = network("gmm", means=[[0.0, 1.0], [2.0, -1.0]], vars=[[1.0, 0.5], [0.3, 0.7]])
    p = process("edm")
    x = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.8, dtype=torch.float64)
    (grad,) = torch.autograd.grad(net.log_prob(x, t, p).sum(), x)
    torch.testing.assert_close(net.score(x.detach(), t, p), grad)


def test_gaussian_closed_form_solves_the_ode():
    """d/dt of the closed-form trajectory equals the network's velocity."""
    net = network("gaussian", mean=[0.5, -0.3], cov=[[1.0, 0.3], [0.3, 0.5]])
    p = process("vp-linear")
    den = Denoiser(net, p)
    x1 = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    h = 1e-6
    xt = net.ode_solution(x1, 1.0, t, p)
    dx = (net.ode_solution(x1, 1.0, t + h, p) - net.ode_solution(x1, 1.0, t - h, p)) / (2 * h)
    torch.testing.assert_close(dx, den(xt, t).velocity, rtol=1e-6, atol=1e-7)
    # and it is invertible
    torch.testing.assert_close(net.ode_solution(xt, t, 1.0, p), x1)


def test_gaussian_equals_single_component_gmm():
    mean, cov = [0.5, -0.3], [[1.0, 0.3], [0.3, 0.5]]
    g, m = network("gaussian", mean=mean, cov=cov), network("gmm", means=[mean], covs=[cov])
    p = process("trig")
    x = torch.randn(10, 2, dtype=torch.float64)
    torch.testing.assert_close(g.predict(x, 0.6, p), m.predict(x, 0.6, p))


def test_empirical_denoiser(tmp_path):
    data = np.random.default_rng(0).normal(size=(300, 2))
    path = tmp_path / "d.npy"
    np.save(path, data)
    net = network("empirical", data=str(path), chunk=64)
    p = process("edm")
    x = torch.randn(5, 2, dtype=torch.float64)
    # brute force
    d = torch.as_tensor(data)
    for t in (0.05, 1.0, 30.0):
        w = torch.softmax(-0.5 * ((x[:, None] - d[None]) ** 2).sum(-1) / t ** 2, dim=1)
        torch.testing.assert_close(net.predict(x, t, p), w @ d)
    # small noise: memorises the nearest point
    near = d[((x[:, None] - d[None]) ** 2).sum(-1).argmin(1)]
    torch.testing.assert_close(net.predict(x, 1e-4, p), near)


def test_empirical_rejects_bad_files(tmp_path):
    with pytest.raises(ParamError, match="file not found"):
        network("empirical", data=str(tmp_path / "nope.npy"))
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ParamError, match="numeric"):
        network("empirical", data=str(bad))


def test_gmm_validation_names_field():
    with pytest.raises(ParamError, match="covs"):
        network("gmm", means=[[0, 0]], covs=[[[1, 0]]])
    with pytest.raises(ParamError, match="weights"):
        network("gmm", means=[[0, 0], [1, 1]], weights=[1.0])

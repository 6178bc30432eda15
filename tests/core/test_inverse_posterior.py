"""The exact posterior of a Gaussian mixture under a linear Gaussian measurement."""
from __future__ import annotations

import numpy as np
import torch

from studio.core.inverse.guidance import build_operator
from studio.core.inverse.posterior import gmm_posterior, posterior_of
from studio.core.params import build
from studio.core.registry import NETWORKS


def _grid_moments(means, covs, weights, a, y, sy, lim=4.5, n=401):
    """Posterior mean and covariance by brute-force quadrature on a 2-D grid."""
    g = np.linspace(-lim, lim, n)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    prior = np.zeros(len(pts))
    for m, c, w in zip(means, covs, weights):
        d = pts - m
        ci = np.linalg.inv(c)
        prior += w * np.exp(-0.5 * np.einsum("ni,ij,nj->n", d, ci, d)) / np.sqrt(np.linalg.det(2 * np.pi * c))
    r = pts @ a.T - y
    like = np.exp(-0.5 * (r * r).sum(1) / sy ** 2)
    p = prior * like
    p /= p.sum()
    mean = p @ pts
    d = pts - mean
    return mean, (d * p[:, None]).T @ d


def test_matches_quadrature_in_2d():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 2))
    covs = []
    for _ in range(3):
        b = rng.normal(size=(2, 2)) * 0.4
        covs.append(b @ b.T + 0.05 * np.eye(2))
    covs = np.array(covs)
    w = np.array([0.2, 0.3, 0.5])
    for a, y, sy in [(np.array([[1.0, 0.5]]), np.array([0.7]), 0.3),
                     (np.array([[1.0, 0.0], [0.2, 1.0]]), np.array([0.1, -0.5]), 0.4)]:
        post = gmm_posterior(means, covs, w, a, y, sy)
        mean, cov = _grid_moments(means, covs, w, a, y, sy)
        assert np.allclose(post.mean, mean, atol=2e-4)
        assert np.allclose(post.covariance, cov, atol=2e-4)
        assert np.isclose(post.weights.sum(), 1.0)


def test_single_gaussian_is_gaussian_conditioning():
    rng = np.random.default_rng(1)
    d, m = 4, 2
    b = rng.normal(size=(d, d))
    c = b @ b.T + np.eye(d)
    mu = rng.normal(size=d)
    a = rng.normal(size=(m, d))
    y = rng.normal(size=m)
    sy = 0.3
    post = gmm_posterior(mu[None], c[None], [1.0], a, y, sy)
    # information form: precision = C^-1 + A^T A / s^2
    prec = np.linalg.inv(c) + a.T @ a / sy ** 2
    cov = np.linalg.inv(prec)
    mean = cov @ (np.linalg.solve(c, mu) + a.T @ y / sy ** 2)
    assert np.allclose(post.means[0], mean) and np.allclose(post.covs[0], cov)


def test_noiseless_samples_satisfy_the_measurement_and_sampling_is_exact():
    gmm = build(NETWORKS.get("gmm"), {"means": [[1, 0, 0], [-1, 1, 0]],
                                      "vars": [[0.2, 0.3, 0.4], [0.1, 0.1, 0.5]]}, "gmm")
    for spec in ({"kind": "projection", "m": 2, "seed": 0}, {"kind": "inpaint", "mask": [1, 0, 1]}):
        op = build_operator(spec)
        op.bind((3,))
        y = op.forward(torch.tensor([[0.5, 0.2, -0.3]], dtype=torch.float64))[0]
        post = posterior_of(gmm, op, y, 0.0)
        xs = post.sample(4000, torch.Generator().manual_seed(0))
        assert float((op.forward(xs) - y).abs().max()) < 1e-6
        assert np.allclose(xs.mean(0).numpy(), post.mean, atol=0.05)
        assert np.allclose(np.cov(xs.numpy().T), post.covariance, atol=0.05)


def test_posterior_as_network_params():
    gmm = build(NETWORKS.get("gmm"), {"means": [[2, 0], [-2, 0]], "vars": [[0.3, 0.3], [0.3, 0.3]]},
                "gmm")
    op = build_operator({"kind": "inpaint", "mask": [0, 1]})
    post = posterior_of(gmm, op, [99.0, 0.4], 0.1)    # the unobserved entry of y is ignored
    net = build(NETWORKS.get("gmm"), post.network_params(), "posterior")
    assert net.data_shape == (2,)
    assert np.allclose(post.weights, [0.5, 0.5]) and np.allclose(post.mean[0], 0.0, atol=1e-12)

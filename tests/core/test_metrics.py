"""The sample-set distances of studio.core.metrics against scipy and against their definitions."""
import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from studio.core import metrics


@pytest.mark.parametrize("n,m", [(7, 7), (50, 33), (4, 1000)])
def test_wasserstein_1d_matches_scipy(n, m):
    g = np.random.default_rng(n * 1000 + m)
    a, b = g.normal(size=(n, 3)), g.normal(1.0, 2.0, size=(m, 3))
    w = metrics.wasserstein_1d(torch.from_numpy(a), torch.from_numpy(b), p=1.0)
    want = [wasserstein_distance(a[:, k], b[:, k]) for k in range(3)]
    np.testing.assert_allclose(w.numpy(), want, rtol=1e-12, atol=1e-14)


def test_wasserstein_2_of_equal_sizes_pairs_the_order_statistics():
    g = np.random.default_rng(1)
    a, b = g.normal(size=(40, 2)), g.normal(size=(40, 2))
    want = np.sqrt(((np.sort(a, 0) - np.sort(b, 0)) ** 2).mean(0))
    np.testing.assert_allclose(metrics.wasserstein_1d(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
                               want, rtol=1e-13)


def test_sorted_reference_projections_give_the_same_distance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g, dtype=torch.float64)
    y = torch.randn(200, 5, generator=g, dtype=torch.float64) + 0.3
    direct = metrics.sliced_wasserstein(x, y, n_projections=64, seed=3)
    proj = metrics.sorted_projections(y, 64, seed=3)
    assert proj.shape == (64, 200) and bool((proj[:, 1:] >= proj[:, :-1]).all())
    cached = metrics.sliced_wasserstein(x, None, n_projections=64, seed=3, y_projections=proj)
    assert float(cached) == pytest.approx(float(direct), rel=1e-14)
    # the same directions as before: one direction is the projection's own W2
    theta = metrics.random_directions(64, 5, seed=3)
    per = metrics.wasserstein_1d(x @ theta.T, y @ theta.T)
    assert float(direct) == pytest.approx(float(per.pow(2).mean().sqrt()), rel=1e-13)


def test_sliced_wasserstein_names_bad_input():
    x = torch.zeros(10, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="dimensions differ"):
        metrics.sliced_wasserstein(x, torch.zeros(10, 2))
    with pytest.raises(ValueError, match="y_projections has shape"):
        metrics.sliced_wasserstein(x, None, n_projections=8, y_projections=torch.zeros(4, 10))
    with pytest.raises(ValueError, match="give the samples y"):
        metrics.sliced_wasserstein(x, None)
    with pytest.raises(ValueError, match="NaN"):
        metrics.sliced_wasserstein(x, torch.full((4, 3), float("nan")))

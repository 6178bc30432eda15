"""Diagnostics: analytic fields are conservative and solve the score Fokker-Planck equation; a
rotated (non-gradient) field is caught; ODE/SDE gap; Gaussian departure; densities on grids."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from studio.core import diagnostics as D
from studio.core.model import Denoiser
from studio.core.networks.gmm import GMM
from studio.core.registry import SOLVERS

from .helpers import GAUSS, GMM8, network, prior, process


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


@dataclass
class RotatedGMM(GMM):
    """A GMM whose eps prediction gains a rotation c R x: no longer the gradient of anything."""

    parameterization = "eps"
    c: float = 0.3

    def predict(self, x, t, process, labels=None):
        x0 = super().predict(x, t, process, labels)
        a, s = process.alpha(torch.as_tensor(t)).to(x.dtype), process.sigma(torch.as_tensor(t)).to(x.dtype)
        a, s = a.reshape(-1, 1), s.reshape(-1, 1)
        eps = (x - a * x0) / s
        rot = torch.stack([-x[:, 1], x[:, 0]], 1)
        return eps + self.c * rot


def rotated():
    return RotatedGMM(means=GMM8["means"], vars=GMM8["vars"])


@pytest.mark.parametrize("pid", ["edm", "vp-linear", "rectified-flow"])
def test_analytic_fields_are_conservative(pid):
    net, proc = network("gmm", **GMM8), process(pid)
    den = Denoiser(net, proc)
    x0 = net.sample(32, torch.Generator().manual_seed(0))
    ts = np.geomspace(proc.t_min * 5, proc.t_max * 0.9, 4)
    exact = D.asymmetry_over_time(den, x0, ts, method="exact")
    probes = D.asymmetry_over_time(den, x0, ts, method="probes", probes=3)
    assert exact.mean.max() < 1e-9 and probes.mean.max() < 1e-9
    curl = D.curl_2d(den, float(ts[1]), (-6, 6), (-6, 6), 16)
    assert np.abs(curl.extra["relative"]).max() < 1e-9


def test_rotation_is_caught_by_both_estimators():
    proc = process("vp-linear")
    den = Denoiser(rotated(), proc)
    x = D.marginal_points(den, network("gmm", **GMM8).sample(64), 0.5)
    exact = D.jacobian_asymmetry(den, x, 0.5, method="exact")
    est = D.jacobian_asymmetry(den, x, 0.5, method="probes", probes=64)
    assert float(exact.mean()) > 0.05
    assert float(est.mean()) == pytest.approx(float(exact.mean()), rel=0.25)
    curl = D.curl_2d(den, 0.5, (-5, 5), (-5, 5), 8)
    # score = -eps / sigma: curl of -c R x / sigma is -2c / sigma everywhere
    s = float(proc.sigma(torch.tensor(0.5)))
    np.testing.assert_allclose(curl.values, -2 * 0.3 / s, rtol=1e-8)


@pytest.mark.parametrize("pid", ["edm", "vp-linear"])
def test_fokker_planck_residual(pid):
    """The exact GMM score solves the score FP equation (autograd in t, and central differences);
    the rotated field does not."""
    net, proc = network("gmm", **GMM8), process(pid)
    x0 = net.sample(32, torch.Generator().manual_seed(1))
    ts = np.geomspace(proc.t_min * 20, proc.t_max * 0.8, 4)
    fp = D.fokker_planck_residual(Denoiser(net, proc), x0, ts)
    assert fp.relative.max() < 1e-8, fp.relative
    fd = D.fokker_planck_residual(Denoiser(net, proc), x0, ts, fd_step=1e-4)
    assert fd.relative.max() < 1e-4, fd.relative
    bad = D.fokker_planck_residual(Denoiser(rotated(), proc), x0, ts)
    assert bad.relative.min() > 1e-2


def test_ode_sde_gap():
    net, proc = network("gmm", **GMM8), process("edm")
    den = Denoiser(net, proc)
    x_T = prior(proc, 300)
    missing = D.ode_sde_gap(den, x_T, sde_solver="no-such-solver")
    assert not missing.available and "not registered" in missing.reason
    res = D.ode_sde_gap(den, x_T, steps=100)
    if "euler-maruyama" not in SOLVERS:
        assert not res.available and "euler-maruyama" in res.reason
        return
    assert res.available and res.sde_solver == "euler-maruyama"
    # an exact score: both samplers reach the data; their distance is sampling noise
    assert res.swd_ode_data < 3 * res.swd_floor and res.swd_sde_data < 3 * res.swd_floor
    assert res.ode_samples.shape == res.sde_samples.shape == x_T.shape


def test_gaussian_departure():
    proc = process("edm")
    gauss = network("gaussian", **GAUSS)
    x_T = prior(proc, 64)
    data = gauss.sample(20000, torch.Generator().manual_seed(2))
    # the network IS the Gaussian (up to the sample covariance): the paths never part
    same = D.gaussian_departure(Denoiser(gauss, proc), x_T, mean=GAUSS["mean"], cov=GAUSS["cov"],
                                steps=60)
    assert same.parting_t is None and same.relative.max() < 1e-3
    near = D.gaussian_departure(Denoiser(gauss, proc), x_T, data, steps=40)
    assert near.relative.max() < 0.05
    heun = D.gaussian_departure(Denoiser(gauss, proc), x_T, mean=GAUSS["mean"], cov=GAUSS["cov"],
                                steps=60, solver="heun")
    assert heun.relative.max() < 1e-2  # Heun's own error only
    # a multimodal mixture leaves the Gaussian's path on the way to the data
    gmm = network("gmm", **GMM8)
    part = D.gaussian_departure(Denoiser(gmm, proc), x_T, gmm.sample(5000), steps=60)
    assert part.parting_t is not None and proc.t_min < part.parting_t < proc.t_max
    assert part.relative[0] < 1e-6 and part.relative[-1] > 0.1
    assert part.network_path.shape == part.gaussian_path.shape == (61, 64, 2)


def test_density_and_velocity_grids():
    net, proc = network("gmm", **GMM8), process("vp-linear")
    den = Denoiser(net, proc)
    exact = D.density_grid(den, 0.3, (-7, 7), (-7, 7), 60)
    cell = (14 / 59) ** 2
    assert np.exp(exact.values).sum() * cell == pytest.approx(1.0, abs=2e-3)
    parts = D.marginal_points(den, net.sample(4000, torch.Generator().manual_seed(3)), 0.3)
    kde = D.density_grid(den, 0.3, (-7, 7), (-7, 7), 60, particles=parts)
    assert kde.method == "kde" and exact.method == "exact"
    assert np.exp(kde.values).sum() * cell == pytest.approx(1.0, abs=0.02)
    l1 = lambda g: np.abs(np.exp(g.values) - np.exp(exact.values)).sum() * cell  # noqa: E731
    # Scott's rule (the default) over-smooths a multimodal set a little; a chosen bandwidth is
    # closer (measured L1: 0.16 and 0.10 with 4000 particles)
    sharp = D.density_grid(den, 0.3, (-7, 7), (-7, 7), 60, particles=parts, bandwidth=0.3)
    assert l1(kde) < 0.25 and l1(sharp) < 0.15
    evo = D.density_evolution(den, [0.1, 0.5, 0.9], (-7, 7), (-7, 7), 20)
    assert [g.t for g in evo] == [0.1, 0.5, 0.9]
    v = D.velocity_grid(den, 0.4, (-5, 5), (-5, 5), 9)
    u = den(torch.as_tensor(v.points()), 0.4).velocity.numpy()
    np.testing.assert_allclose(v.extra["u"].ravel(), u[:, 0])
    np.testing.assert_allclose(v.extra["v"].ravel(), u[:, 1])
    lines = D.streamlines(den, 0.4, torch.zeros(3, 2) + torch.tensor([[1.0, 0.0]]), steps=10)
    assert lines.shape == (3, 11, 2)
    with pytest.raises(Exception, match="2-D"):
        D.density_grid(Denoiser(network("gmm", means=[[0, 0, 0]]), proc), 0.3, (-1, 1), (-1, 1), 4)

"""The SDE solvers: samples at the sampling-noise floor of the data, exact identities between
solvers that coincide, closed-form moments on Gaussian data."""
from __future__ import annotations

import pytest
import torch

from studio.core.errors import ParamError
from studio.core.metrics import sliced_wasserstein
from studio.core.model import Denoiser
from studio.core.networks.gmm import GMM
from studio.core.parameterization import from_x0_eps, x0_to_eps
from studio.core.pipeline import build_solver
from studio.core.solvers.ddpm import posterior_coeffs

from .helpers import GAUSS, network, prior, process, solve

# Three overlapping anisotropic components with unequal weights: the sliced Wasserstein distance
# of 3000 exact samples to another 3000 is ~0.03 here, while a 10 % error in scale costs ~0.1.
GMM3 = {"means": [[-1.0, 0.0], [1.0, 0.6], [0.3, -1.2]],
        "covs": [[[0.3, 0.1], [0.1, 0.2]], [[0.15, -0.05], [-0.05, 0.3]], [[0.1, 0.0], [0.0, 0.1]]],
        "weights": [0.5, 0.3, 0.2]}
N = 3000
STEPS = 200
#: a solver's SW to exact samples may exceed the mean SW between independent exact sets by this
FACTOR = 1.5

SDE_CONFIGS = [
    ("ddpm", {}),
    ("ddpm", {"variance": "large"}),
    ("euler-ancestral", {}),
    ("euler-maruyama", {}),
    ("pc", {}),
    ("pc", {"predictor": "euler-maruyama", "corrector_steps": 2}),
    ("edm-stochastic", {}),
    ("dpm-solver++-2m-sde", {}),
]
IDS = [sid + "".join(f"-{v}" for v in kw.values()) for sid, kw in SDE_CONFIGS]


@pytest.fixture(scope="module")
def gmm():
    return network("gmm", **GMM3)


@pytest.fixture(scope="module")
def data(gmm):
    """Exact data samples and the noise floor: the mean SW between independent exact sets."""
    g = torch.Generator().manual_seed(1234)
    ref = gmm.sample(N, g)
    floor = sum(float(sliced_wasserstein(ref, gmm.sample(N, g))) for _ in range(4)) / 4
    return ref, floor


def _sw_to_data(gmm, data, pid, sid, steps=STEPS, **kw):
    proc = process(pid)
    _, res = solve(sid, proc, gmm, prior(proc, N, seed=7), steps=steps, seed=11, **kw)
    return float(sliced_wasserstein(res.samples, data[0]))


@pytest.mark.parametrize("sid,kw", SDE_CONFIGS, ids=IDS)
def test_samples_at_noise_floor_edm(gmm, data, sid, kw):
    sw = _sw_to_data(gmm, data, "edm", sid, **kw)
    assert sw <= FACTOR * data[1], f"{sid} {kw}: SW {sw:.4f}, floor {data[1]:.4f}"


@pytest.mark.parametrize("pid", ["rectified-flow", "vp-linear"])
@pytest.mark.parametrize("sid,kw", [SDE_CONFIGS[i] for i in (0, 2, 3, 4, 6, 7)],
                         ids=[IDS[i] for i in (0, 2, 3, 4, 6, 7)])
def test_samples_at_noise_floor_other_processes(gmm, data, pid, sid, kw):
    sw = _sw_to_data(gmm, data, pid, sid, **kw)
    assert sw <= FACTOR * data[1], f"{sid} {kw} on {pid}: SW {sw:.4f}, floor {data[1]:.4f}"


def test_the_floor_test_detects_errors(gmm, data):
    """The threshold is tight enough to fail: a 10 % scale error, too few DDPM steps and too
    little Langevin/ancestral noise are all caught."""
    ref, floor = data
    exact = gmm.sample(N, torch.Generator().manual_seed(99))
    assert float(sliced_wasserstein(exact, ref)) <= FACTOR * floor
    assert float(sliced_wasserstein(exact * 1.1, ref)) > FACTOR * floor
    assert _sw_to_data(gmm, data, "edm", "ddpm", steps=20) > FACTOR * floor
    assert _sw_to_data(gmm, data, "edm", "euler-ancestral", s_noise=0.85) > FACTOR * floor


@pytest.mark.parametrize("pid", ["edm", "vp-linear", "rectified-flow", "ddpm-discrete"])
def test_ancestral_samplers_coincide(pid):
    """DDPM's posterior, DDIM with eta = 1 and Euler ancestral with eta = 1 are the same update
    written three ways; with the same seed they give the same samples."""
    proc = process(pid)
    net = network("gmm", **GMM3)
    x_T = prior(proc, 64)
    _, a = solve("ddpm", proc, net, x_T, steps=12, seed=5)
    _, b = solve("ddim", proc, net, x_T, steps=12, seed=5, eta=1.0)
    _, c = solve("euler-ancestral", proc, net, x_T, steps=12, seed=5)
    assert torch.allclose(a.samples, b.samples, atol=1e-9, rtol=1e-9)
    assert torch.allclose(a.samples, c.samples, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("pid", ["edm", "vp-cosine", "rectified-flow"])
def test_deterministic_limits(pid):
    """eta = 0 / S_churn = 0 reduce to the ODE solvers exactly."""
    proc = process(pid)
    net = network("gmm", **GMM3)
    x_T = prior(proc, 64)
    pairs = [(("dpm-solver++-2m-sde", {"eta": 0.0}), ("dpm-solver++-2m", {})),
             (("edm-stochastic", {"S_churn": 0.0}), ("heun", {})),
             (("euler-ancestral", {"eta": 0.0}), ("ddim", {}))]
    for (s1, k1), (s2, k2) in pairs:
        _, a = solve(s1, proc, net, x_T, steps=9, seed=1, **k1)
        _, b = solve(s2, proc, net, x_T, steps=9, seed=1, **k2)
        assert torch.allclose(a.samples, b.samples, atol=1e-9, rtol=1e-9), (s1, s2, pid)


def test_posterior_coeffs_closed_form():
    """q(x_s | x_t, x0) against Bayes' rule written with the transition a = alpha_t / alpha_s,
    b^2 = sigma_t^2 - a^2 sigma_s^2: mean = (a sigma_s^2 x_t + alpha_s b^2 x0) / sigma_t^2,
    var = b^2 sigma_s^2 / sigma_t^2."""
    for pid in ("vp-linear", "ve", "trig", "ddpm-discrete"):
        p = process(pid)
        t, s = torch.tensor(0.7, dtype=torch.float64), torch.tensor(0.45, dtype=torch.float64)
        a = p.alpha(t) / p.alpha(s)
        b2 = p.sigma(t) ** 2 - a * a * p.sigma(s) ** 2
        c_x, c_0, std = posterior_coeffs(p, t, s)
        assert torch.allclose(c_x, a * p.sigma(s) ** 2 / p.sigma(t) ** 2, rtol=1e-10)
        assert torch.allclose(c_0, p.alpha(s) * b2 / p.sigma(t) ** 2, rtol=1e-10)
        assert torch.allclose(std ** 2, b2 * p.sigma(s) ** 2 / p.sigma(t) ** 2, rtol=1e-10)
        _, _, large = posterior_coeffs(p, t, s, "large")
        assert torch.allclose(large ** 2, b2, rtol=1e-10)
    # alpha = 0 at the start (rectified flow, t = 1): mean alpha_s x0, variance sigma_s^2
    rf = process("rectified-flow")
    c_x, c_0, std = posterior_coeffs(rf, torch.tensor(1.0, dtype=torch.float64),
                                     torch.tensor(0.6, dtype=torch.float64))
    assert float(c_x) == 0.0 and abs(float(c_0) - 0.4) < 1e-15 and abs(float(std) - 0.6) < 1e-15


def _ddpm_moments(proc, ts, variance, mean0, cov0):
    """Exact mean and covariance of the DDPM chain's output on Gaussian data N(m, C): every step
    x' = c_x x + c_0 D(x) + std z is affine in x, with D(x) = m + A (x - alpha m),
    A = alpha C (alpha^2 C + sigma^2 I)^-1; the final denoise applies D once more."""
    m = torch.tensor(GAUSS["mean"], dtype=torch.float64)
    c = torch.tensor(GAUSS["cov"], dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.float64)

    def affine(t):
        a, s = proc.alpha(t), proc.sigma(t)
        big_a = a * c @ torch.linalg.inv(a * a * c + s * s * eye)
        return big_a, m - a * big_a @ m  # D(x) = big_a x + b

    mu, cov = mean0, cov0
    for i in range(len(ts) - 1):
        c_x, c_0, std = posterior_coeffs(proc, ts[i], ts[i + 1], variance)
        big_a, b = affine(ts[i])
        lin = c_x * eye + c_0 * big_a
        mu, cov = lin @ mu + c_0 * b, lin @ cov @ lin.T + std * std * eye
    big_a, b = affine(ts[-1])
    return big_a @ mu + b, big_a @ cov @ big_a.T


@pytest.mark.parametrize("pid", ["vp-linear", "edm", "rectified-flow"])
@pytest.mark.parametrize("sid,kw", [("ddpm", {}), ("ddpm", {"variance": "large"}),
                                    ("euler-ancestral", {})])
def test_ancestral_moments_closed_form(pid, sid, kw):
    """On Gaussian data the ancestral chain is linear-Gaussian: its output moments follow exactly
    from the recursion above (including the O(1/steps) variance loss at a coarse budget). The
    sample moments of 20000 particles match them to within sampling error, and the two variance
    choices are told apart."""
    proc = process(pid)
    net = network("gaussian", **GAUSS)
    n, steps = 20000, 15
    x_T = prior(proc, n, seed=3)
    run, res = solve(sid, proc, net, x_T, steps=steps, seed=2, **kw)
    prior_cov = proc.prior_std ** 2 * torch.eye(2, dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    variance = kw.get("variance", "small")
    mu, cov = _ddpm_moments(proc, run.ts, variance, zero, prior_cov)
    x = res.samples
    # standard errors of the sample mean and covariance, with a 5-sigma margin
    se_mean = torch.sqrt(cov.diagonal() / n)
    se_cov = torch.sqrt((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov ** 2) / n)
    assert ((x.mean(0) - mu).abs() <= 5 * se_mean).all(), (x.mean(0), mu)
    assert ((torch.cov(x.T) - cov).abs() <= 5 * se_cov).all(), (torch.cov(x.T), cov)
    other = "large" if variance == "small" else "small"
    _, cov_other = _ddpm_moments(proc, run.ts, other, zero, prior_cov)
    assert ((cov_other - cov).abs() > 10 * se_cov).any()


@pytest.mark.parametrize("sid,kw", SDE_CONFIGS[3:], ids=IDS[3:])
def test_gaussian_moments_converge(sid, kw):
    """The other SDE solvers: sample mean and covariance of Gaussian data within sampling error
    plus a discretisation bias that 100 steps keep below 0.05."""
    proc = process("vp-linear")
    net = network("gaussian", **GAUSS)
    n = 20000
    _, res = solve(sid, proc, net, prior(proc, n, seed=3), steps=100, seed=2, **kw)
    x = res.samples
    mean = torch.tensor(GAUSS["mean"], dtype=torch.float64)
    cov = torch.tensor(GAUSS["cov"], dtype=torch.float64)
    assert (x.mean(0) - mean).abs().max() < 0.03, x.mean(0)
    assert (torch.cov(x.T) - cov).abs().max() < 0.05, torch.cov(x.T)


def test_pc_budget_and_bad_params():
    s = build_solver("pc", {"corrector_steps": 3, "steps": 5}, "pc")
    assert s.nfe_for_steps(5) == 21
    assert build_solver("pc", {"corrector_steps": 3, "nfe": 21}, "pc").num_steps() == 5
    proc = process("edm")
    _, res = solve("pc", proc, network("gmm", **GMM3), prior(proc, 8), steps=5, corrector_steps=3)
    assert res.nfe == 21
    with pytest.raises(ParamError, match="corrector_steps"):
        build_solver("pc", {"corrector_steps": -1}, "pc")
    with pytest.raises(ParamError, match="predictor"):
        build_solver("pc", {"predictor": "heun"}, "pc")
    with pytest.raises(ParamError, match="S_churn"):
        build_solver("edm-stochastic", {"S_churn": -1.0}, "edm-stochastic")


@pytest.mark.parametrize("sid,kw", SDE_CONFIGS, ids=IDS)
def test_float32_and_float64_agree(sid, kw):
    proc = process("edm")
    net = network("gmm", **GMM3)
    x_T = prior(proc, 256)
    _, a = solve(sid, proc, net, x_T, steps=30, seed=4, **kw)
    _, b = solve(sid, proc, net, x_T.float(), steps=30, seed=4, **kw)
    assert b.samples.dtype == torch.float32
    assert (a.samples - b.samples.double()).abs().max() < 1e-2


def _gmm_predicting(kind: str):
    """The GMM's exact prediction re-expressed as ``kind`` (a stand-in for a trained eps-, v-,
    score- or velocity-network)."""

    class Reparam(GMM):
        parameterization = kind

        def predict(self, x, t, process, labels=None):
            x0 = super().predict(x, t, process)
            c = Denoiser(self, process).coeffs(t, x)
            return from_x0_eps(kind, x0, x0_to_eps(x, x0, c), c)

    return Reparam(**GMM3)


@pytest.mark.parametrize("kind", ["eps", "v", "score", "velocity"])
@pytest.mark.parametrize("pid", ["edm", "vp-linear", "rectified-flow"])
def test_every_parameterization(gmm, kind, pid):
    """Each SDE solver gives the same samples (same seed) whatever the network predicts. An eps-
    or score-network cannot give x0 where alpha = 0, so rectified flow is run with v and velocity."""
    if pid == "rectified-flow" and kind in ("eps", "score"):
        pytest.skip("x0 is undefined from eps at alpha = 0")
    proc = process(pid)
    net = _gmm_predicting(kind)
    x_T = prior(proc, 64)
    for sid, kw in SDE_CONFIGS:
        _, a = solve(sid, proc, gmm, x_T, steps=10, seed=3, **kw)
        _, b = solve(sid, proc, net, x_T, steps=10, seed=3, **kw)
        assert torch.allclose(a.samples, b.samples, atol=1e-7, rtol=1e-7), (sid, kw, kind, pid)

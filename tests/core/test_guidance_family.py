"""The classifier-free guidance family (cfg++, apg, autoguidance, cfg-zero-star) against the exact
class posterior of a Gaussian mixture: each neutral setting is the conditional model to 1e-9, each
formula holds exactly, and bad input is a clear error."""
from __future__ import annotations

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.model import Denoiser
from studio.core.networks.base import Network
from studio.core.networks.file import FileNetwork
from studio.core.params import build
from studio.core.registry import GUIDANCE
from studio.core.runner import SamplingRun
from studio.core.pipeline import build_solver

from .helpers import network, process
from .models_helpers import tiny_model_file

MEANS = [[-2.0, 0.0], [2.0, 1.0], [0.0, 3.0]]
VARS = [[0.5, 0.3], [0.2, 0.6], [0.4, 0.4]]
WEIGHTS = [0.5, 0.3, 0.2]


class ClassMixture(Network):
    """A mixture whose components are classes: label k -> the exact posterior mean of component k
    alone, label -1 -> that of the whole mixture (the exact conditional and unconditional models)."""

    parameterization = "x0"

    def __init__(self):
        super().__init__()
        self.full = network("gmm", means=MEANS, vars=VARS, weights=WEIGHTS)

    data_shape = property(lambda self: (2,))
    num_classes = property(lambda self: 3)

    def predict(self, x, t, process, labels=None):
        a = process.alpha(torch.as_tensor(t, dtype=torch.float64)).to(x.dtype)
        s = process.sigma(torch.as_tensor(t, dtype=torch.float64)).to(x.dtype)
        logp, mean = self.full._components(x, a, s)
        mix = (torch.softmax(logp, 1)[..., None] * mean).sum(1)
        if labels is None:
            return mix
        lab = labels.expand(len(x)) if labels.ndim == 0 else labels
        one = mean[torch.arange(len(x)), lab.clamp_min(0)]
        return torch.where((lab >= 0)[:, None], one, mix)


def component(k):
    return network("gmm", means=[MEANS[k]], vars=[VARS[k]])


def g(kind, **params):
    return build(GUIDANCE.get(kind), params, kind)


X = 3.0 * torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
LAB = torch.tensor([0, 1, 2, 1] * 8)


def exact_conditional(proc, t):
    return torch.stack([Denoiser(component(int(k)), proc)(X[i:i + 1], t).x0[0]
                        for i, k in enumerate(LAB)])


@pytest.mark.parametrize("pid", ["vp-linear", "edm", "rectified-flow"])
@pytest.mark.parametrize("kind,params", [("apg", {"scale": 1.0}),
                                         ("cfg-zero-star", {"scale": 1.0})])
def test_neutral_setting_is_the_exact_conditional(pid, kind, params):
    proc = process(pid)
    for u in (0.05, 0.4, 0.9):
        t = torch.tensor(proc.t_min + u * (proc.t_max - proc.t_min), dtype=torch.float64)
        got = Denoiser(ClassMixture(), proc, g(kind, **params), LAB)(X, t)
        torch.testing.assert_close(got.x0, exact_conditional(proc, t), rtol=1e-9, atol=1e-9)


def test_apg_without_projection_momentum_or_limit_is_cfg():
    proc = process("vp-linear")
    t = torch.tensor(0.5, dtype=torch.float64)
    cfg = Denoiser(ClassMixture(), proc, g("cfg", scale=4.0), LAB)(X, t).x0
    apg = Denoiser(ClassMixture(), proc, g("apg", scale=4.0, eta=1.0, momentum=0.0,
                                           norm_threshold=0.0), LAB)(X, t).x0
    torch.testing.assert_close(apg, cfg, rtol=1e-9, atol=1e-9)


def test_apg_update_is_orthogonal_and_norm_limited():
    proc = process("edm")
    t = torch.tensor(2.0, dtype=torch.float64)
    cond = Denoiser(ClassMixture(), proc, None, LAB)(X, t).x0
    unc = Denoiser(ClassMixture(), proc, None, torch.full_like(LAB, -1))(X, t).x0
    got = Denoiser(ClassMixture(), proc, g("apg", scale=3.0, eta=0.0, momentum=0.0,
                                           norm_threshold=0.5), LAB)(X, t).x0
    upd = (got - cond) / 2.0
    assert float((upd * cond).sum(1).abs().max()) < 1e-9          # orthogonal to D_c
    delta = cond - unc
    lim = delta * torch.clamp(0.5 / delta.norm(dim=1, keepdim=True), max=1.0)
    perp = lim - (lim * cond).sum(1, keepdim=True) / (cond * cond).sum(1, keepdim=True) * cond
    torch.testing.assert_close(upd, perp, rtol=1e-9, atol=1e-9)


def test_apg_momentum_is_reset_per_run():
    proc = process("edm")
    den = Denoiser(ClassMixture(), proc, g("apg", scale=3.0, momentum=-0.5), LAB)
    solver = build_solver("euler", {"steps": 6}, "s")
    a = SamplingRun(den, solver, X * 80, seed=0).run().samples
    b = SamplingRun(den, solver, X * 80, seed=0).run().samples
    assert torch.equal(a, b)
    plain = Denoiser(ClassMixture(), proc, g("apg", scale=3.0, momentum=0.0), LAB)
    assert not torch.allclose(a, SamplingRun(plain, solver, X * 80, seed=0).run().samples)


def test_cfg_zero_star_formula_and_zero_init():
    proc = process("rectified-flow")
    t = torch.tensor(0.6, dtype=torch.float64)
    v_c = Denoiser(ClassMixture(), proc, None, LAB)(X, t).velocity
    v_u = Denoiser(ClassMixture(), proc, None, torch.full_like(LAB, -1))(X, t).velocity
    s = (v_c * v_u).sum(1, keepdim=True) / (v_u * v_u).sum(1, keepdim=True)
    got = Denoiser(ClassMixture(), proc, g("cfg-zero-star", scale=3.0), LAB)(X, t).velocity
    torch.testing.assert_close(got, s * v_u + 3.0 * (v_c - s * v_u), rtol=1e-9, atol=1e-9)
    den = Denoiser(ClassMixture(), proc, g("cfg-zero-star", scale=3.0, zero_init_steps=2), LAB)
    run = SamplingRun(den, build_solver("euler", {"steps": 5}, "s"), X, seed=0, record=True)
    traj = run.run().trajectory
    assert torch.equal(traj[0], traj[1]) and torch.equal(traj[1], traj[2])
    assert not torch.allclose(traj[2], traj[3])


@pytest.mark.parametrize("pid", ["vp-linear", "edm"])
def test_cfg_pp_lambda_zero_is_the_unconditional_ddim_run(pid):
    proc = process(pid)
    x_T = X * proc.prior_std
    solver = build_solver("ddim", {"steps": 8}, "s")
    guided = SamplingRun(Denoiser(ClassMixture(), proc, g("cfg++", lam=0.0), LAB), solver, x_T,
                         seed=0).run().samples
    full = network("gmm", means=MEANS, vars=VARS, weights=WEIGHTS)
    plain = SamplingRun(Denoiser(full, proc), solver, x_T, seed=0).run().samples
    torch.testing.assert_close(guided, plain, rtol=1e-9, atol=1e-9)


def test_cfg_pp_step_is_interpolated_x0_renoised_with_unconditional_eps():
    proc = process("edm")
    solver = build_solver("euler", {"steps": 4}, "s")
    den = Denoiser(ClassMixture(), proc, g("cfg++", lam=0.7), LAB)
    run = SamplingRun(den, solver, X * 80, seed=0, record=True)
    res = run.run()
    t0, t1 = run.ts[0], run.ts[1]
    x = res.trajectory[0]
    c = Denoiser(ClassMixture(), proc, None, LAB)(x, t0)
    u = Denoiser(ClassMixture(), proc, None, torch.full_like(LAB, -1))(x, t0)
    want = (u.x0 + 0.7 * (c.x0 - u.x0)) + t1 * u.eps
    torch.testing.assert_close(res.trajectory[1], want, rtol=1e-9, atol=1e-9)
    assert res.nfe == 5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("auto")
    main = tiny_model_file(d / "main.safetensors", seed=0, num_classes=3)
    weak = tiny_model_file(d / "weak.safetensors", seed=1, num_classes=3, width=8,
                           process="vp-cosine", parameterization="v")
    other = tiny_model_file(d / "other.safetensors", seed=2, num_classes=4)
    return main, weak, other


def test_autoguidance_neutral_and_formula(files):
    main, weak, other = files
    net, wnet = FileNetwork(path=main), FileNetwork(path=weak)
    proc = process("vp-linear")
    lab = torch.tensor([0, 2, 1])
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.tensor(0.4, dtype=torch.float64)
    one = g("autoguidance", weak=weak, scale=1.0)
    one.bind(net, proc)
    assert torch.equal(Denoiser(net, proc, one, lab)(x, t).value,
                       Denoiser(net, proc, None, lab)(x, t).value)
    two = g("autoguidance", weak=weak, scale=2.5)
    two.bind(net, proc)
    d_m = Denoiser(net, proc, None, lab)(x, t).x0
    d_w = Denoiser(wnet, proc, None, lab)(x, t).x0          # queried at equal log-SNR
    torch.testing.assert_close(Denoiser(net, proc, two, lab)(x, t).x0, d_w + 2.5 * (d_m - d_w),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(StudioError, match="classes"):
        g("autoguidance", weak=other).bind(net, proc)
    with pytest.raises(StudioError, match="weak"):
        g("autoguidance", weak=str(main) + ".missing")


@pytest.mark.parametrize("kind", ["apg", "cfg-zero-star", "cfg++"])
def test_missing_labels_is_a_clear_error(kind):
    proc = process("edm")
    with pytest.raises(StudioError, match="labels"):
        Denoiser(ClassMixture(), proc, g(kind), None)(X, 1.0)


def test_the_bundled_weak_digits_model_guides_the_bundled_digits_model():
    """`digits-weak` (scripts/bundled/digits-weak.json) is of `digits`' family: it binds, scale 1
    is the main model exactly, and a scale > 1 moves the prediction."""
    net = FileNetwork(path="assets:digits.safetensors")
    proc = net.trained_process
    lab = torch.arange(4) % 10
    x, t = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.full((4,), 0.5)
    plain = Denoiser(net, proc, None, lab)(x, t).value
    one = g("autoguidance", weak="assets:digits-weak.safetensors", scale=1.0)
    one.bind(net, proc)
    assert torch.equal(Denoiser(net, proc, one, lab)(x, t).value, plain)
    two = g("autoguidance", weak="assets:digits-weak.safetensors", scale=2.0)
    two.bind(net, proc)
    assert (Denoiser(net, proc, two, lab)(x, t).value - plain).abs().max() > 1e-3

"""Flow maps: the Gaussian's exact map, reference maps, flow-map networks and model files."""
from __future__ import annotations

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.flowmap import AnalyticFlowMap, reference_flow_map
from studio.core.model import Denoiser
from studio.core.modelfile import ModelFileError, ModelSpec, load_model, save_model
from studio.core.networks.file import FileNetwork
from studio.core.nn.flowmap import FlowMapModel

from .helpers import GAUSS, GMM8, network, process, solve

PIDS = ["vp-linear", "edm", "rectified-flow", "vp-cosine"]


def _times(proc, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    lo, hi = float(proc.t_min), float(proc.t_max)
    t = lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    u = lo + (t - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    s = lo + (u - lo) * torch.rand(n, generator=g, dtype=torch.float64)
    return t, u, s


@pytest.mark.parametrize("pid", PIDS)
def test_gaussian_flow_map_composition_and_boundary(pid):
    proc = process(pid)
    net = network("gaussian", **GAUSS)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = x * float(proc.prior_std)
    t, u, s = _times(proc, 64)
    direct = net.flow_map(x, t, s, proc)
    composed = net.flow_map(net.flow_map(x, t, u, proc), u, s, proc)
    scale = float(direct.abs().max())
    assert float((composed - direct).abs().max()) <= 1e-13 * max(scale, 1.0)
    assert torch.equal(net.flow_map(x, t, t, proc), x)
    # the inverse direction (s -> t) undoes the jump
    back = net.flow_map(direct, s, t, proc)
    assert float((back - x).abs().max()) <= 1e-12 * max(scale, 1.0)
    # scalar times agree with per-sample ones
    assert torch.allclose(net.flow_map(x, 0.7 * float(proc.t_max), float(proc.t_min), proc),
                          net.ode_solution(x, 0.7 * float(proc.t_max), float(proc.t_min), proc),
                          rtol=0, atol=1e-13 * max(scale, 1.0))


@pytest.mark.parametrize("pid", ["vp-linear", "rectified-flow"])
def test_reference_map_matches_closed_form(pid):
    """dopri5 on the Gaussian's velocity reproduces the exact map (validates the reference)."""
    proc = process(pid)
    net = network("gaussian", **GAUSS)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t, _, s = _times(proc, 8, seed=3)
    ref = reference_flow_map(net, proc, x, t, s)
    assert float((ref - net.flow_map(x, t, s, proc)).abs().max()) < 1e-6


def test_gmm_reference_map_is_a_flow():
    proc = process("vp-linear")
    net = network("gmm", **GMM8)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    y = net.flow_map(x, 0.9, 0.4, proc)
    z = net.flow_map(y, 0.4, 0.05, proc)
    assert float((z - net.flow_map(x, 0.9, 0.05, proc)).abs().max()) < 1e-5
    assert float((net.flow_map(z, 0.05, 0.9, proc) - x).abs().max()) < 1e-5
    assert net.flow_map_kind == "reference" and network("gaussian", **GAUSS).flow_map_kind == "exact"


def test_analytic_flow_map_average_velocity():
    proc = process("rectified-flow")
    fm = AnalyticFlowMap(network("gaussian", **GAUSS), proc)
    x = torch.randn(6, 2, dtype=torch.float64)
    t = torch.full((6,), 0.8, dtype=torch.float64)
    s = torch.tensor([0.8, 0.8, 0.5, 0.3, 0.1, 0.0], dtype=torch.float64)
    u = fm.average_velocity(x, t, s)
    assert torch.allclose(x + (s - t)[:, None] * u, fm.jump(x, t, s), atol=1e-12)
    assert torch.allclose(u[:2], fm(x[:2], t[:2]), atol=1e-12)


def test_networks_without_flow_map_say_so(tmp_path):
    """An ordinary trained denoiser has no flow map: the jump sampler says so."""
    spec = ModelSpec(architecture="mlp", arch_config={"width": 16, "depth": 1, "emb_dim": 8},
                     parameterization="eps", process={"kind": "vp-linear", "params": {}},
                     data_shape=[2])
    path = str(tmp_path / "eps.safetensors")
    save_model(path, spec.build_model().net.state_dict(), spec)
    net = FileNetwork(path=path)
    assert net.flow_map_kind == ""
    with pytest.raises(StudioError, match="no flow map"):
        solve("flow-map", net.trained_process, net, torch.randn(3, 2, dtype=torch.float64))


def _flow_spec(kind="velocity"):
    return ModelSpec(architecture="mlp", arch_config={"width": 32, "depth": 2, "emb_dim": 16,
                                                      "flow_map": True},
                     parameterization="flow-map", process={"kind": "rectified-flow", "params": {}},
                     data_shape=[2], flow_map={"time_pair": "t->s",
                                               "velocity_parameterization": kind})


@pytest.mark.parametrize("kind", ["velocity", "x0"])
def test_flow_map_model_file_round_trip(tmp_path, kind):
    spec = _flow_spec(kind)
    model = spec.build_model()
    assert isinstance(model, FlowMapModel)
    torch.manual_seed(0)
    for p in model.net.parameters():           # not the zero-initialised identity
        torch.nn.init.normal_(p, std=0.1)
    path = str(tmp_path / "fm.safetensors")
    save_model(path, model.net.state_dict(), spec)
    loaded = load_model(path)
    assert loaded.spec.is_flow_map and loaded.spec.flow_map["velocity_parameterization"] == kind
    net = FileNetwork(path=path)
    assert net.parameterization == kind and net.flow_map_kind == "learned"
    proc = net.trained_process
    x = torch.randn(5, 2)
    assert torch.equal(net.flow_map(x, 0.6, 0.6, proc), x)           # boundary by construction
    y = net.flow_map(x, 0.9, 0.2, proc)
    assert not torch.allclose(y, x)
    # the implied velocity is the jump's s-derivative at s = t
    t, h = 0.6, 1e-3
    fd = (net.flow_map(x.double(), t, t - h, proc) - net.flow_map(x.double(), t, t + h, proc)) / (-2 * h)
    v = Denoiser(net, proc)(x.double(), t).velocity
    assert torch.allclose(fd, v, atol=2e-3), (fd - v).abs().max()
    # a flow-map model runs with an ordinary solver, and with the jump sampler under another process
    _, res = solve("euler", proc, net, torch.randn(4, 2, dtype=torch.float64), steps=4)
    assert torch.isfinite(res.samples).all()
    _, res = solve("flow-map", process("vp-linear"), net, torch.randn(4, 2, dtype=torch.float64),
                   steps=2)
    assert res.nfe == 2 and torch.isfinite(res.samples).all()


def test_flow_map_metadata_is_checked(tmp_path):
    spec = _flow_spec()
    meta = spec.to_metadata()
    meta["checksum"] = ""
    bad = dict(meta, flow_map='{"time_pair": "s->t", "velocity_parameterization": "velocity"}')
    with pytest.raises(ModelFileError, match="time_pair"):
        ModelSpec.from_metadata(bad, "m")
    bad = dict(meta, flow_map='{"time_pair": "t->s", "velocity_parameterization": "score"}')
    with pytest.raises(ModelFileError, match="velocity_parameterization"):
        ModelSpec.from_metadata(bad, "m")
    bad = dict(meta, architecture='{"id": "mlp", "config": {"width": 32}}')
    with pytest.raises(ModelFileError, match="flow_map true"):
        ModelSpec.from_metadata(bad, "m")
    bad = dict(meta)
    del bad["flow_map"]
    with pytest.raises(ModelFileError, match="flow_map"):
        ModelSpec.from_metadata(bad, "m")


def test_jump_arrows_follow_the_exact_map():
    from studio.core.flowmap import jump_arrows
    proc = process("vp-linear")
    net = network("gaussian", **GAUSS)
    start, end = jump_arrows(net, proc, 0.8, 0.1, n=5)
    assert start.shape == end.shape == (25, 2)
    assert torch.allclose(end, net.flow_map(start, 0.8, 0.1, proc), atol=1e-12)
    s2, e2 = jump_arrows(net, proc, 0.8, 0.8, n=5)
    assert torch.equal(s2, e2)
    with pytest.raises(StudioError, match="2-D"):
        jump_arrows(network("gaussian", mean=[0, 0, 0]), proc, 0.8, 0.1)


def test_unet_flow_map_takes_the_target_time():
    """The U-Net's second time embedding: the jump depends on s, and is the identity at s = t."""
    spec = ModelSpec(architecture="unet", arch_config={"channels": 8, "mults": [1], "groups": 4,
                                                       "emb_dim": 16, "flow_map": True},
                     parameterization="flow-map", process={"kind": "vp-cosine", "params": {}},
                     data_shape=[1, 8, 8], num_classes=3,
                     flow_map={"time_pair": "t->s", "velocity_parameterization": "v"})
    model = spec.build_model()
    assert any(k.startswith("cond.mlp_s") for k in model.net.state_dict())
    torch.manual_seed(0)
    for p in model.net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(2, 1, 8, 8)
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(model.jump(x, 0.7, 0.7, labels), x)
        a = model.prediction(x, 0.7, 0.2, labels)
        b = model.prediction(x, 0.7, 0.5, labels)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("pid", ["edm", "vp-linear", "rectified-flow"])
@pytest.mark.parametrize("params", [{"gamma": 0.5}, {"multistep": True}])
def test_gamma_and_multistep_sampling_keep_the_marginals(pid, params):
    """With the exact map, re-noising between jumps keeps every marginal: 4 stochastic jumps from
    the prior give the data's mean and covariance (to Monte Carlo error), for any process."""
    proc = process(pid)
    net = network("gaussian", **GAUSS)
    n = 20000
    x_T = torch.randn(n, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_T = x_T * float(proc.prior_std)
    run, res = solve("flow-map", proc, net, x_T, steps=4, seed=5, **params)
    assert res.nfe == 4
    exact = net.flow_map(x_T, run.ts[0], run.ts[-1], proc)     # the deterministic endpoint law
    x = res.samples
    assert not torch.allclose(x, exact)                          # it did re-noise
    assert torch.allclose(x.mean(0), exact.mean(0), atol=0.03)
    assert torch.allclose(torch.cov(x.T), torch.cov(exact.T), atol=0.04)

"""Architectures: shapes, labels, configuration errors; preconditioning coefficients."""
from __future__ import annotations

import math

import pytest
import torch

from studio.core.errors import ParamError
from studio.core.nn.denoising import DenoisingModel
from studio.core.nn.registry import ARCHITECTURES
from studio.core.params import build
from studio.core.registry import PROCESSES

from .models_helpers import one_thread


def arch(aid, **params):
    return build(ARCHITECTURES.get(aid), params, aid)


def test_registry_lists_both():
    assert {"mlp", "unet"} <= set(ARCHITECTURES.ids())


@pytest.mark.parametrize("shape", [(1,), (2,), (3,), (16,), (2, 4)])
def test_mlp_keeps_the_data_shape(shape):
    m = arch("mlp", width=16, depth=2, emb_dim=8).module(shape, 4)
    x = torch.randn((5,) + shape)
    assert m(x, torch.rand(5), torch.tensor([0, 1, 2, 3, 4])).shape == x.shape
    assert m(x, torch.rand(5), None).shape == x.shape   # None = the null class


@pytest.mark.parametrize("shape,mults", [((1, 8, 8), [1, 2]), ((3, 16, 16), [1, 2, 2]),
                                         ((1, 32, 32), [1, 1, 2, 2]), ((3, 64, 64), [1, 2])])
def test_unet_keeps_the_data_shape(shape, mults):
    with one_thread():
        m = arch("unet", channels=8, mults=mults, groups=4, emb_dim=16, head_dim=8,
                 attn_res=8).module(shape, 10)
        x = torch.randn((2,) + shape)
        y = m(x, torch.rand(2), torch.tensor([3, 10]))
    assert y.shape == x.shape


def test_unet_has_attention_and_group_norm_where_declared():
    m = arch("unet", channels=8, mults=[1, 2], groups=4, head_dim=8, attn_res=4).module((1, 8, 8), 0)
    names = [type(mod).__name__ for mod in m.modules()]
    assert "GroupNorm" in names and names.count("Attention") >= 3   # level-2 down/up + middle


def test_shape_and_config_errors_name_the_problem():
    with pytest.raises(ParamError, match="square images 8x8 to 64x64"):
        arch("unet").check((1, 4, 4), 0)
    with pytest.raises(ParamError, match="divisible"):
        arch("unet", mults=[1, 2, 2, 2]).check((1, 12, 12), 0)
    with pytest.raises(ParamError, match="channels"):
        arch("unet").check((5, 8, 8), 0)
    with pytest.raises(ParamError, match="groups"):
        arch("unet", channels=12, groups=8)
    with pytest.raises(ParamError, match="images"):
        arch("unet").check((2,), 0)
    with pytest.raises(ParamError, match="1..4096"):
        arch("mlp").check((3, 64, 64), 0)


def test_mlp_fourier_features_are_fixed_and_stored():
    a = arch("mlp", width=16, depth=1, emb_dim=8, fourier=4, fourier_scale=2.0)
    m1, m2 = a.module((2,), 0), a.module((2,), 0)
    assert m1.state_dict()["fourier_freqs"].shape == (2, 4)
    assert torch.equal(m1.fourier_freqs, m2.fourier_freqs)
    assert m1.inp.in_features == 2 + 8


def test_zero_initialised_output_is_zero():
    m = arch("mlp", width=16, depth=1, emb_dim=8).module((2,), 0)
    assert torch.equal(m(torch.randn(3, 2), torch.rand(3)), torch.zeros(3, 2))


@pytest.mark.parametrize("kind", ["eps", "x0", "v", "velocity"])
@pytest.mark.parametrize("pid", ["vp-linear", "rectified-flow", "edm"])
def test_preconditioning_is_the_best_linear_predictor_for_gaussian_data(kind, pid):
    """With F = 0 the preconditioned output c_skip x equals E[y | x] for data N(0, sd^2), and
    c_out is the standard deviation of the residual y - c_skip x."""
    proc = build(PROCESSES.get(pid), {}, pid)
    net = arch("mlp", width=8, depth=1, emb_dim=8).module((1,), 0)
    dm = DenoisingModel(net, proc, kind, "edm", 0.7, "t", 0)
    t = torch.tensor([proc.t_min * 2, 0.5 * (proc.t_min + proc.t_max), proc.t_max * 0.9],
                     dtype=torch.float64)
    c = dm.coefficients(t)
    g = torch.Generator().manual_seed(0)
    n = 400_000
    x0 = 0.7 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(n, 3, generator=g, dtype=torch.float64)
    x = c["alpha"] * x0 + c["sigma"] * eps
    y = {"eps": eps, "x0": x0, "v": c["alpha"] * eps - c["sigma"] * x0,
         "velocity": c["dalpha"] * x0 + c["dsigma"] * eps}[kind]
    resid = y - c["c_skip"] * x
    scale = y.std(0)
    assert torch.all((resid * x).mean(0).abs() < 0.01 * scale * x.std(0))   # uncorrelated
    assert torch.allclose(resid.std(0), c["c_out"], rtol=0.01)
    if pid == "edm" and kind == "x0":
        s, sd = c["sigma"], 0.7
        assert torch.allclose(c["c_skip"], sd ** 2 / (s ** 2 + sd ** 2))
        assert torch.allclose(c["c_out"], s * sd / torch.sqrt(s ** 2 + sd ** 2))
    assert math.isfinite(float(c["c_out"].min())) and float(c["c_out"].min()) > 0

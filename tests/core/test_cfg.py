"""Classifier-free guidance: scale 1 is the conditional model exactly, one doubled-batch call per
evaluation, the formula, the interval, the rescale, and clear errors."""
from __future__ import annotations

import json

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.model import Denoiser
from studio.core.networks.file import FileNetwork
from studio.core.params import build
from studio.core.pipeline import Pipeline
from studio.core.registry import GUIDANCE

from .models_helpers import one_thread, tiny_model_file


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("cfg") / "cond.safetensors", num_classes=3,
                           parameterization="v", process="vp-cosine")


def _pipeline(path, guidance: dict | None, solver="dpm-solver++-2m", labels=(0, 1, 2, 1),
              process="vp-linear"):
    nodes = {"p": {"type": "process", "kind": process, "params": {}},
             "n": {"type": "network", "kind": "file", "params": {"path": path}},
             "s": {"type": "solver", "kind": solver, "params": {"steps": 6}}}
    links = [["p", "n"], ["n", "s"]]
    if guidance is not None:
        nodes["g"] = {"type": "guidance", "kind": "cfg", "params": guidance}
        links = [["p", "n"], ["n", "g"], ["g", "s"]]
    data = {"format": "studio.pipeline/1", "nodes": nodes, "links": links,
            "run": {"batch": len(labels), "seed": 3, "labels": list(labels)}}
    return Pipeline.from_json(json.dumps(data)).build()


def test_scale_one_reproduces_the_conditional_model_exactly(model_path):
    with one_thread():
        plain = _pipeline(model_path, None).run()["s"]
        guided = _pipeline(model_path, {"scale": 1.0}).run()["s"]
        # also when the interval excludes every time
        off = _pipeline(model_path, {"scale": 4.0, "t_lo": 2.0}).run()["s"]
    assert torch.equal(plain.samples, guided.samples)
    assert torch.equal(plain.samples, off.samples)
    assert plain.nfe == guided.nfe


def test_one_network_call_on_a_doubled_batch(model_path):
    net = FileNetwork(path=model_path)
    calls = []
    orig = net.predict

    def spy(x, t, process, labels=None):
        calls.append((x.shape[0], None if labels is None else labels.tolist()))
        return orig(x, t, process, labels)
    net.predict = spy
    g = build(GUIDANCE.get("cfg"), {"scale": 3.0}, "cfg")
    den = Denoiser(net, net.trained_process, g, torch.tensor([0, 2]))
    x = torch.randn(2, 2, dtype=torch.float64)
    den(x, 0.5)
    assert calls == [(4, [0, 2, -1, -1])]


def test_guided_prediction_is_uncond_plus_scale_times_difference(model_path):
    net = FileNetwork(path=model_path)
    proc = net.trained_process
    x = torch.randn(3, 2, dtype=torch.float64)
    lab = torch.tensor([0, 1, 2])
    cond = Denoiser(net, proc, None, lab)(x, 0.4).value
    unc = Denoiser(net, proc, None, torch.full((3,), -1))(x, 0.4).value
    g = build(GUIDANCE.get("cfg"), {"scale": 2.5}, "cfg")
    got = Denoiser(net, proc, g, lab)(x, 0.4)
    assert got.kind == "v"
    assert torch.allclose(got.value, unc + 2.5 * (cond - unc), atol=1e-5)
    # interval: inside guided, outside conditional
    g2 = build(GUIDANCE.get("cfg"), {"scale": 2.5, "t_lo": 0.3, "t_hi": 0.5}, "cfg")
    assert torch.allclose(Denoiser(net, proc, g2, lab)(x, 0.4).value, got.value)
    assert torch.equal(Denoiser(net, proc, g2, lab)(x, 0.6).value,
                       Denoiser(net, proc, None, lab)(x, 0.6).value)


def test_rescale_matches_the_conditional_std(model_path):
    net = FileNetwork(path=model_path)
    proc = net.trained_process
    x = torch.randn(4, 2, dtype=torch.float64)
    lab = torch.tensor([0, 1, 2, 0])
    cond = Denoiser(net, proc, None, lab)(x, 0.5).x0
    full = Denoiser(net, proc, build(GUIDANCE.get("cfg"), {"scale": 5.0, "rescale": 1.0}, "g"),
                    lab)(x, 0.5).x0
    assert torch.allclose(full.std(1), cond.std(1), atol=1e-5)


def test_cfg_errors_are_clear(model_path, tmp_path):
    with pytest.raises(StudioError, match="labels"):
        net = FileNetwork(path=model_path)
        g = build(GUIDANCE.get("cfg"), {"scale": 2.0}, "g")
        Denoiser(net, net.trained_process, g, None)(torch.zeros(2, 2, dtype=torch.float64), 0.5)
    nodrop = tiny_model_file(tmp_path / "nodrop.safetensors", num_classes=3, class_dropout=0.0)
    with pytest.raises(StudioError, match="class dropout"):
        _pipeline(nodrop, {"scale": 2.0}).run()
    with pytest.raises(StudioError, match="t_lo"):
        build(GUIDANCE.get("cfg"), {"t_lo": 0.5, "t_hi": 0.1}, "g")
    with pytest.raises(StudioError, match="class ids"):
        _pipeline(model_path, {"scale": 2.0}, labels=(0, 5, 1, 1)).run()

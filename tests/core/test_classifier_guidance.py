"""Classifier guidance: with the exact noisy classifier of a Gaussian mixture, scale 1 is the
exact posterior of one component (Bayes' rule on the noisy marginals); a classifier model file is
queried at equal log-SNR in its own units; noise-conditional classifiers train and load; every bad
input is a clear error naming the field."""
from __future__ import annotations

import json
import math
import os

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.modelfile import load_model, save_model
from studio.core.pipeline import Pipeline
from studio.core.training import TrainConfig, Trainer

from .models_helpers import one_thread, tiny_model_file, tiny_spec, tiny_state

MEANS = [[-2.0, 0.0], [2.0, 1.0], [0.0, 3.0]]
COVS = [[[0.5, 0.1], [0.1, 0.3]], [[0.2, 0.0], [0.0, 0.6]], [[0.4, 0.0], [0.0, 0.4]]]
WEIGHTS = [0.5, 0.3, 0.2]


def gmm(means=MEANS, covs=COVS, weights=WEIGHTS):
    return {"means": means, "covs": covs, "weights": weights}


def pipeline(network: dict, guidance: dict | None, labels=None, process="vp-linear",
             solver="heun", steps=30, batch=64, base_dir=None):
    nodes = {"p": {"type": "process", "kind": process, "params": {}},
             "m": {"type": "network", **network},
             "s": {"type": "solver", "kind": solver, "params": {"steps": steps}}}
    links = [["p", "m"], ["m", "s"]]
    if guidance is not None:
        nodes["g"] = {"type": "guidance", "kind": "classifier", "params": guidance}
        links = [["p", "m"], ["m", "g"], ["g", "s"]]
    run = {"batch": batch, "seed": 1}
    if labels is not None:
        run["labels"] = labels
    return Pipeline.from_dict({"format": "studio.pipeline/1", "nodes": nodes, "links": links,
                               "run": run}, base_dir=base_dir).build()


@pytest.mark.parametrize("process", ["vp-linear", "edm", "rectified-flow"])
def test_exact_classifier_at_scale_one_is_the_components_exact_posterior(process):
    k = 1
    guided = pipeline({"kind": "gmm", "params": gmm()}, {"classifier": "exact", "scale": 1.0},
                      labels=k, process=process)
    alone = pipeline({"kind": "gmm", "params": gmm([MEANS[k]], [COVS[k]], [1.0])}, None,
                     process=process)
    proc = guided.process
    x = 3.0 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for u in (0.02, 0.3, 0.7, 0.98):
        t = torch.tensor(proc.t_min + u * (proc.t_max - proc.t_min), dtype=torch.float64)
        a = guided.denoiser(guided.branches[0])(x, t)
        b = alone.denoiser(alone.branches[0])(x, t)
        torch.testing.assert_close(a.x0, b.x0, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(a.eps, b.eps, rtol=1e-9, atol=1e-9)
    # and whole runs from the same noise (rectified flow starts at alpha = 0, where the guided x0
    # is a limit taken at alpha / sigma = 1e-6: first-order accurate)
    tol = 1e-6 if process == "rectified-flow" else 1e-8
    torch.testing.assert_close(guided.run()["s"].samples, alone.run()["s"].samples,
                               rtol=tol, atol=tol)


def test_scale_zero_is_the_unguided_model_and_a_label_of_minus_one_is_not_guided():
    plain = pipeline({"kind": "gmm", "params": gmm()}, None).run()["s"].samples
    zero = pipeline({"kind": "gmm", "params": gmm()}, {"scale": 0.0}, labels=2).run()["s"].samples
    assert torch.equal(plain, zero)
    mixed = [-1] * 32 + [2] * 32
    out = pipeline({"kind": "gmm", "params": gmm()}, {"scale": 1.0}, labels=mixed).run()["s"].samples
    torch.testing.assert_close(out[:32], plain[:32], rtol=1e-12, atol=1e-12)
    # the guided half lands near component 2 (mean [0, 3]), the plain half does not
    near = lambda s: ((s - torch.tensor(MEANS[2], dtype=s.dtype)).norm(dim=1) < 2.0).double().mean()
    assert near(out[32:]) > 0.95 and near(plain[32:]) < 0.6


def test_larger_scales_sharpen_towards_the_class():
    """p(x | y)^1 p(y | x)^(s-1): the share of samples that the clean data's exact classifier
    assigns to the guided class grows with the scale."""
    from studio.core.networks.gmm import GMM
    mix = GMM(**gmm())

    def share(scale):
        s = pipeline({"kind": "gmm", "params": gmm()}, {"scale": scale}, labels=0, batch=400,
                     solver="dpm-solver++-2m", steps=20).run()["s"].samples
        t0 = torch.tensor(0.0, dtype=torch.float64)
        clean = mix.component_log_posterior(s, t0, _Clean())
        return float((clean.argmax(1) == 0).double().mean())
    shares = [share(s) for s in (0.0, 0.5, 1.0, 3.0)]
    assert shares[0] < 0.65 < shares[1] < shares[2] <= shares[3]


class _Clean:
    """alpha = 1, sigma = 0: the data itself."""
    alpha = staticmethod(lambda t: torch.ones_like(t))
    sigma = staticmethod(lambda t: torch.zeros_like(t))


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    """A tiny noise-conditional classifier with random weights: 3 classes of 2-D points, trained
    (nominally) under vp-cosine with its own normalisation."""
    spec = tiny_spec("mlp", num_classes=3, process="vp-cosine")
    spec.architecture, spec.arch_config = "classifier", {"width": 16, "depth": 2, "emb_dim": 8,
                                                         "dropout": 0.0}
    spec.parameterization, spec.class_dropout = "logits", 0.0
    path = tmp_path_factory.mktemp("clf") / "clf.safetensors"
    save_model(str(path), tiny_state(spec), spec)
    return str(path)


def test_a_classifier_file_is_queried_at_equal_log_snr_in_its_own_units(classifier_file):
    clf = load_model(classifier_file)
    cspec, cproc = clf.spec, clf.model.process
    built = pipeline({"kind": "gmm", "params": gmm()},
                     {"classifier": classifier_file, "scale": 1.0}, labels=0, process="edm")
    g, proc = built.guidance["g"], built.process
    gen = torch.Generator().manual_seed(5)
    x0 = torch.randn(16, 2, generator=gen, dtype=torch.float64)    # network (= data) units
    eps = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    for sigma in (0.05, 0.8, 6.0):
        t = torch.tensor(sigma, dtype=torch.float64)
        x_t = proc.alpha(t) * x0 + proc.sigma(t) * eps
        ours = g.log_probs(x_t, t)
        # by hand: the same x0 and eps in the classifier's units and process, at equal SNR there
        x0_c = cspec.to_model_units(x0)
        k = 1.0 / float(cspec.scale)                   # classifier units per data unit
        # the same eps: alpha' k / sigma' = alpha / sigma, so lambda' = lambda - 2 log k
        lam = float(proc.logsnr(t)) - 2.0 * math.log(k)
        t_c = cproc.t_of_logsnr(torch.tensor(lam, dtype=torch.float64))
        xc_t = cproc.alpha(t_c) * x0_c + cproc.sigma(t_c) * eps
        with torch.no_grad():
            want = torch.log_softmax(clf.model(xc_t.float(), t_c.expand(16)).double(), dim=1)
        torch.testing.assert_close(ours.detach(), want, rtol=1e-5, atol=1e-5)
    # the guided eps is eps - sigma grad log p(y | x): check the gradient by finite differences
    t = torch.tensor(0.8, dtype=torch.float64)
    x = proc.alpha(t) * x0 + proc.sigma(t) * eps
    lab = torch.zeros(16, dtype=torch.long)
    grad = g.grad_log_p(x, t, lab)
    h = 1e-3
    for d in range(2):
        e = torch.zeros_like(x)
        e[:, d] = h
        fd = (g.log_probs(x + e, t)[:, 0] - g.log_probs(x - e, t)[:, 0]).detach() / (2 * h)
        torch.testing.assert_close(grad[:, d], fd, rtol=2e-2, atol=2e-3)


def test_bad_inputs_are_clear_errors(classifier_file, tmp_path):
    net = {"kind": "gmm", "params": gmm()}
    with pytest.raises(StudioError, match="run.labels"):
        pipeline(net, {"scale": 1.0}).run()
    with pytest.raises(StudioError, match="class ids 0..2"):
        pipeline(net, {"scale": 1.0}, labels=3).run()
    denoiser = tiny_model_file(tmp_path / "den.safetensors")
    with pytest.raises(StudioError, match="not a classifier") as exc:
        pipeline(net, {"classifier": denoiser})
    assert "node 'g'.params.classifier" in str(exc.value)
    with pytest.raises(StudioError, match="classifier guidance node") as exc:
        pipeline({"kind": "file", "params": {"path": classifier_file}}, None)
    assert "path" in str(exc.value)
    with pytest.raises(StudioError, match="needs a gmm network"):
        pipeline({"kind": "file", "params": {"path": denoiser}}, {"classifier": "exact"})
    images = tiny_model_file(tmp_path / "img.safetensors", arch="unet")
    with pytest.raises(StudioError, match=r"shape \[2\]"):
        pipeline({"kind": "file", "params": {"path": images}}, {"classifier": classifier_file})
    with pytest.raises(StudioError, match="unconditional: turn 'conditional' off"):
        pipeline(net, {"conditional": True})
    with pytest.raises(StudioError, match="no bundled model"):
        pipeline(net, {"classifier": "assets:nope.safetensors"})


def _classifier_config(**over):
    cfg = {"format": "studio.train/1", "name": "blobs classifier", "seed": 0,
           "data": {"kind": "gaussians", "params": {"n": 2000}, "conditional": True},
           "architecture": {"id": "classifier", "params": {"width": 32, "depth": 2, "emb_dim": 16}},
           "process": {"kind": "vp-linear", "params": {}},
           "objective": {"target": "classifier"},
           "optim": {"steps": 150, "batch": 128, "lr": 0.003, "warmup": 10, "ema": 0.9},
           "log_every": 25}
    cfg.update(over)
    return cfg


def test_a_noise_conditional_classifier_trains_saves_and_guides(tmp_path):
    with one_thread():
        tr = Trainer(TrainConfig.from_dict(_classifier_config()))
        losses = [ev.loss for ev in tr.run() if hasattr(ev, "loss") and hasattr(ev, "lr")]
        path = str(tmp_path / "c.safetensors")
        spec = tr.export(path)
    # the loss averages over every noise level (log K where x_t is pure noise)
    assert losses[-1] < losses[0] - 0.15
    assert spec.is_classifier and spec.num_classes == tr.num_classes >= 2
    acc = {a["logsnr"]: a["accuracy"] for a in spec.training["accuracy"]}
    assert acc[8.0] > 0.9 and acc[8.0] > acc[-4.0]               # clean is easy, noise is not
    assert spec.preview_png.startswith(b"\x89PNG")
    loaded = load_model(path)
    assert loaded.spec.parameterization == "logits"
    # it guides a pipeline (here a broad Gaussian prior towards class 0)
    built = pipeline({"kind": "gmm", "params": gmm([[0.0, 0.0]], [[[9.0, 0.0], [0.0, 9.0]]], [1.0])},
                     {"classifier": "c.safetensors", "scale": 2.0}, labels=0, base_dir=str(tmp_path),
                     solver="dpm-solver++-2m", steps=15, batch=128)
    samples = built.run()["s"].samples
    assert torch.isfinite(samples).all()


def test_classifier_training_errors_name_the_field():
    with pytest.raises(StudioError, match="data.conditional"):
        Trainer(TrainConfig.from_dict(_classifier_config(
            data={"kind": "moons", "params": {"n": 500}, "conditional": False})))
    with pytest.raises(StudioError, match="objective.target"):
        Trainer(TrainConfig.from_dict(_classifier_config(objective={"target": "eps"})))
    with pytest.raises(StudioError, match="architecture.id"):
        Trainer(TrainConfig.from_dict(_classifier_config(
            architecture={"id": "mlp", "params": {"width": 16, "depth": 1, "emb_dim": 8}})))
    with pytest.raises(StudioError, match="objective.precond"):
        Trainer(TrainConfig.from_dict(_classifier_config(
            objective={"target": "classifier", "precond": "edm"})))


def test_the_bundled_digits_classifier_reads_clean_digits_and_fits_the_digits_model():
    from studio.core.library import resolve_model_path
    from studio.core.training.data import load_digits_arrays
    clf = load_model(resolve_model_path("assets:digits-classifier.safetensors"))
    assert clf.spec.is_classifier and clf.spec.data_shape == [1, 8, 8]
    x, y = load_digits_arrays()
    x0 = clf.spec.to_model_units(torch.as_tensor(x[:400], dtype=torch.float32))
    t = torch.full((400,), float(clf.model.process.t_min), dtype=torch.float64)
    with torch.no_grad():
        acc = (clf.model(x0, t).argmax(1).numpy() == y[:400]).mean()
    assert acc > 0.97
    built = pipeline({"kind": "file", "params": {"path": "assets:digits.safetensors"}},
                     {"classifier": "assets:digits-classifier.safetensors", "scale": 2.0},
                     labels=list(range(10)), process="vp-cosine", solver="dpm-solver++-2m",
                     steps=8, batch=10)
    out = built.run()["s"].samples
    assert out.shape == (10, 1, 8, 8) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    json.dumps(built.pipeline.to_dict())


def test_the_bundled_classifier_judges_digits_in_comparisons(tmp_path):
    """`studio compare` on the digits model reports classifier accuracy and the Frechet distance
    in the judge's features (the built-in judge is the bundled digits classifier); real digits
    are read correctly and are close to themselves."""
    import numpy as np

    from studio.cli.main import main
    from studio.core.compare.judges import find_judge
    from studio.core.training.data import load_digits_arrays
    x, y = load_digits_arrays()
    judge = find_judge((1, 8, 8))
    assert judge is not None and judge.name == "digits"
    real = torch.as_tensor(x[:500], dtype=torch.float32)
    assert (judge.classify(real).numpy() == y[:500]).mean() > 0.97
    assert judge.features(real).shape[0] == 500
    np.save(tmp_path / "digits.npy", x.astype(np.float32))
    ex = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "digits_cfg.json")
    out = tmp_path / "cmp"
    code = main(["compare", ex, "--solvers", "dpm-solver++-2m", "--nfe", "10", "--metrics",
                 "classifier-accuracy,frechet-distance", "--data", str(tmp_path / "digits.npy"),
                 "--no-plots", "--no-samples", "--quiet", "--out", str(out)])
    assert code == 0
    table = json.loads((out / "table.json").read_text())
    (row,) = table["rows"]
    assert table["unavailable"] == {} and row["status"] == "ok"
    assert row["classifier-accuracy"] > 0.8     # CFG scale 2 digits are read as requested
    assert 0.0 < row["frechet-distance"] < float("inf")

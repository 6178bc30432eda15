"""Training: loss goes down, bit-exact resume, pause/cancel, data sets, objectives, config errors."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from studio.core.errors import StudioError
from studio.core.modelfile import load_model
from studio.core.training import (DATASETS, TrainConfig, TrainControl, Trainer, TrainFinished,
                                  TrainPreview, TrainProgress)
from studio.core.training.objectives import Objective

from .models_helpers import one_thread


def config(**over) -> TrainConfig:
    d = {"name": "tiny", "seed": 1,
         "data": {"kind": "gaussians", "params": {"n": 512, "components": 4, "radius": 1.0},
                  "conditional": True},
         "architecture": {"id": "mlp", "params": {"width": 32, "depth": 1, "emb_dim": 16}},
         "process": {"kind": "vp-linear"},
         "objective": {"target": "eps"},
         "optim": {"steps": 30, "batch": 64, "lr": 3e-3, "warmup": 5},
         "preview": {"every": 0, "count": 8, "steps": 4}, "log_every": 5}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return TrainConfig.from_dict(d)


def test_training_lowers_the_loss_and_exports_a_loadable_model(tmp_path):
    with one_thread():
        tr = Trainer(config(optim={"steps": 100}))
        events = list(tr.run())
        prog = [e for e in events if isinstance(e, TrainProgress)]
        assert isinstance(events[-1], TrainFinished) and not events[-1].cancelled
        first, last = prog[0].loss, np.mean([p.loss for p in prog[-5:]])
        assert last < 0.8 * first, (first, last)
        spec = tr.export(str(tmp_path / "m.safetensors"), preview=False)
    loaded = load_model(str(tmp_path / "m.safetensors"))
    assert spec.training["steps"] == 100 and loaded.spec.num_classes == 4
    assert loaded.spec.class_names == ["component 1", "component 2", "component 3", "component 4"]


@pytest.mark.parametrize("target,process,precond", [("eps", "vp-linear", "none"),
                                                    ("x0", "edm", "edm"),
                                                    ("velocity", "rectified-flow", "none"),
                                                    ("v", "trig", "edm")])
def test_resume_is_bit_exact(tmp_path, target, process, precond):
    over = dict(objective={"target": target, "precond": precond}, process={"kind": process},
                optim={"steps": 12})
    with one_thread():
        straight = Trainer(config(**over))
        list(straight.run())
        first = Trainer(config(**over))
        list(first.run(steps=5))
        ck = str(tmp_path / "ck.safetensors")
        first.save_checkpoint(ck)
        resumed = Trainer.resume(ck)
        assert resumed.step == 5
        list(resumed.run())
    a, b = straight.model.net.state_dict(), resumed.model.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    a, b = straight.ema.net.state_dict(), resumed.ema.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.history[-1] == resumed.history[-1]


def test_checkpoint_refuses_changed_data(tmp_path):
    with one_thread():
        tr = Trainer(config())
        list(tr.run(steps=2))
        ck = str(tmp_path / "ck.safetensors")
        tr.save_checkpoint(ck)
        other = tr.data.__class__(tr.data.x + 1, tr.data.labels, tr.data.class_names)
        with pytest.raises(StudioError, match="data changed"):
            Trainer.resume(ck, data=other)


def test_cancel_and_pause_from_another_thread():
    with one_thread():
        tr = Trainer(config(optim={"steps": 10_000}, preview={"every": 3}))
        ctl = TrainControl()
        seen = []
        for ev in tr.run(ctl):
            seen.append(ev)
            if isinstance(ev, TrainPreview):
                assert ev.samples.shape == (8, 2) and ev.labels.tolist() == [0, 1, 2, 3] * 2
            if len(seen) == 3:
                ctl.pause()
                step = tr.step
                threading.Timer(0.3, ctl.cancel).start()
        assert isinstance(seen[-1], TrainFinished) and seen[-1].cancelled
        assert tr.step == step      # nothing ran while paused


def test_learning_rate_warms_up_then_decays():
    tr = Trainer(config(optim={"steps": 100, "warmup": 10, "lr": 1.0, "min_lr": 0.1}))
    lrs = [tr.lr_at(s) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize("kind", ["moons", "swiss-roll", "checkerboard", "rings", "pinwheel",
                                  "gaussians"])
def test_2d_data_sets_are_seeded_and_shaped(kind):
    ds = DATASETS.get(kind)(n=300)
    a, b, c = ds.load(0), ds.load(0), ds.load(1)
    assert a.x.shape == (300, 2) and a.x.dtype == np.float32 and np.isfinite(a.x).all()
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.x, c.x)
    if a.labels is not None:
        assert a.labels.min() >= 0 and a.labels.max() < a.num_classes


def test_digits_and_image_folders(tmp_path):
    from PIL import Image
    d = DATASETS.get("digits")().load(0)
    assert d.x.shape == (1797, 1, 8, 8) and d.x.max() == 1.0 and d.num_classes == 10
    d3 = DATASETS.get("digits")(classes=[3, 7]).load(0)
    assert set(d3.labels.tolist()) == {0, 1} and d3.class_names == ["3", "7"]
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = DATASETS.get("image-folder")(path=str(tmp_path), size=8, channels=1, labels=True)
    data = ds.load(0)
    assert data.x.shape == (6, 1, 8, 8) and data.class_names == ["cats", "dogs"]
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1] and data.range == [0.0, 1.0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(StudioError, match="no images"):
        DATASETS.get("image-folder")(path=str(tmp_path / "empty")).load(0)


def test_tiny_image_model_trains_and_samples_in_data_units():
    cfg = config(data={"kind": "digits", "params": {"classes": [0, 1]}, "conditional": True},
                 architecture={"id": "unet", "params": {"channels": 8, "groups": 4,
                                                        "emb_dim": 16, "head_dim": 8}},
                 objective={"target": "v", "precond": "edm"}, optim={"steps": 3, "batch": 8})
    with one_thread():
        tr = Trainer(cfg)
        list(tr.run())
        s = tr.sample(4, torch.tensor([0, 1, 0, 1]), steps=2)
    assert s.shape == (4, 1, 8, 8) and float(s.min()) >= 0.0 and float(s.max()) <= 1.0


def test_objective_targets_and_weights():
    cfg = config(objective={"target": "eps", "weighting": "min-snr", "min_snr_gamma": 5.0})
    proc = cfg.build_process()
    obj = Objective(cfg.objective, proc)
    t = torch.tensor([0.01, 0.5, 0.99], dtype=torch.float64)
    a, s, da, ds = proc.coeffs(t)
    c = {"alpha": a, "sigma": s, "dalpha": da, "dsigma": ds}
    snr = (a / s) ** 2
    assert torch.allclose(obj.weight(c), torch.clamp(snr, max=5.0) / snr)
    g = torch.Generator().manual_seed(0)
    ts = obj.sample_times(1000, g)
    assert float(ts.min()) >= proc.t_min and float(ts.max()) <= proc.t_max
    edm = config(process={"kind": "edm"}, objective={"target": "x0", "precond": "edm"})
    o2 = Objective(edm.objective, edm.build_process())
    assert o2.t_sampling == "lognormal" and o2.weighting == "edm"
    ts = o2.sample_times(20000, g)
    assert abs(float(torch.log(ts).mean()) + 1.2) < 0.05


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(StudioError, match="optim.lr"):
        config(optim={"lr": "fast"})
    with pytest.raises(StudioError, match="unknown architecture"):
        config(architecture={"id": "transformer"})
    with pytest.raises(StudioError, match="no labels"):
        Trainer(config(data={"kind": "checkerboard", "params": {"n": 100}, "conditional": True}))
    with pytest.raises(StudioError, match="unet takes images"):
        Trainer(config(architecture={"id": "unet", "params": {}}))
    with pytest.raises(StudioError, match="unknown key"):
        config(optimiser={})
    bad = tmp_path / "c.json"
    bad.write_text("{")
    with pytest.raises(StudioError, match="not valid JSON"):
        TrainConfig.load(str(bad))

"""End to end: `studio train` then `studio run` on the trained model, `studio models ...`."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.cli.main import main

from .models_helpers import one_thread, tiny_model_file

CONFIG = {
    "format": "studio.train/1", "name": "tiny rings", "description": "test", "seed": 0,
    "data": {"kind": "rings", "params": {"n": 400, "rings": 2}, "conditional": True},
    "architecture": {"id": "mlp", "params": {"width": 32, "depth": 1, "emb_dim": 16}},
    "process": {"kind": "rectified-flow"},
    "objective": {"target": "velocity"},
    "optim": {"steps": 12, "batch": 32},
    "preview": {"every": 0, "count": 16, "steps": 3},
    "log_every": 4,
}


def test_train_then_run_then_inspect(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(CONFIG))
    model = tmp_path / "models" / "rings.safetensors"
    ck = tmp_path / "ck.safetensors"
    with one_thread():
        assert main(["train", str(cfg), "--out", str(model), "--checkpoint", str(ck),
                         "--mkdir"]) == 0
    err = capsys.readouterr().err
    assert "12/12" in err and "loss" in err and "saved" in err
    pipe = {"format": "studio.pipeline/1",
            "nodes": {"p": {"type": "process", "kind": "vp-linear", "params": {}},
                      "n": {"type": "network", "kind": "file",
                            "params": {"path": "models/rings.safetensors"}},
                      "g": {"type": "guidance", "kind": "cfg", "params": {"scale": 2.0}},
                      "a": {"type": "solver", "kind": "heun", "params": {"steps": 3}},
                      "b": {"type": "solver", "kind": "euler", "params": {"steps": 4}}},
            "links": [["p", "n"], ["n", "g"], ["g", "a"], ["n", "b"]],
            "run": {"batch": 6, "seed": 1, "labels": [0, 1, 0, 1, 0, 1]}}
    (tmp_path / "pipe.json").write_text(json.dumps(pipe))
    out = tmp_path / "res.npz"
    with one_thread():
        assert main(["run", str(tmp_path / "pipe.json"), "--out", str(out), "--quiet"]) == 0
    res = np.load(out)
    assert res["a.samples"].shape == (6, 2) and res["b.samples"].shape == (6, 2)
    assert np.isfinite(res["a.samples"]).all()
    capsys.readouterr()
    assert main(["models", "inspect", str(model), "--json", "--preview",
                 str(tmp_path / "p.png")]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["name"] == "tiny rings" and card["parameterization"] == "velocity"
    assert card["process"]["kind"] == "rectified-flow"
    assert card["conditioning"]["num_classes"] == 2 and card["training"]["steps"] == 12
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")
    assert main(["models", "inspect", str(model)]) == 0
    assert "velocity" in capsys.readouterr().out
    assert main(["models", "list", "--dir", str(tmp_path / "models"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(e["path"].endswith("rings.safetensors") and e["source"] == "extra" for e in listed)
    # resume from the checkpoint to a larger budget
    with one_thread():
        assert main(["train", str(cfg), "--resume", str(ck), "--steps", "16", "--out",
                     str(model), "--quiet"]) == 0
    card = main(["models", "inspect", str(model), "--json"]) or json.loads(capsys.readouterr().out)
    assert card["training"]["steps"] == 16


def test_samples_come_back_in_data_units(tmp_path):
    """The runner maps samples through the file's normalisation (model * scale + shift)."""
    path = tiny_model_file(tmp_path / "m.safetensors")
    pipe = {"format": "studio.pipeline/1",
            "nodes": {"p": {"type": "process", "kind": "vp-linear", "params": {}},
                      "n": {"type": "network", "kind": "file", "params": {"path": path}},
                      "s": {"type": "solver", "kind": "euler", "params": {"steps": 3}}},
            "links": [["p", "n"], ["n", "s"]], "run": {"batch": 4, "seed": 0}}
    from studio.core.pipeline import Pipeline
    built = Pipeline.from_dict(pipe).build()
    res = next(built.runs(record=True)).run()
    final = res.trajectory[-1]                     # x at t_min, in the model's space
    assert res.samples.shape == (4, 2)
    assert torch.allclose(res.samples, final * 2.0 + torch.tensor([0.5, -0.25], dtype=final.dtype),
                          atol=0.2)
    assert not torch.allclose(res.samples, final, atol=0.2)


@pytest.mark.parametrize("argv,phrase", [
    (["models", "inspect", "nope.pt"], "never loaded"),
    (["models", "inspect", "assets:nope.safetensors"], "no bundled model"),
    (["train", "missing.json", "--out", "x.safetensors"], "cannot read"),
])
def test_cli_errors_are_one_line(argv, phrase, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1

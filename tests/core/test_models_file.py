"""Model files: round trip, every corruption mode, pickles refused, atomic save, import, assets."""
from __future__ import annotations

import json
import os
import struct

import pytest
import torch

from studio.core import modelfile
from studio.core.errors import ParamError, StudioError
from studio.core.library import bundled_dir, list_models, new_model_path, resolve_model_path
from studio.core.modelimport import import_checkpoint
from studio.core.modelfile import (ModelFileError, ModelSpec, load_model,
                                   read_info, save_model)

from .models_helpers import tiny_model_file, tiny_spec, tiny_state


def _header(blob: bytes) -> tuple[int, dict]:
    (n,) = struct.unpack("<Q", blob[:8])
    return n, json.loads(blob[8:8 + n])


def _rewrite(blob: bytes, header: dict) -> bytes:
    n, _ = _header(blob)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob[8 + n:]


def _edit_meta(blob: bytes, **changes) -> bytes:
    _, header = _header(blob)
    for k, v in changes.items():
        if v is None:
            header["__metadata__"].pop(k, None)
        else:
            header["__metadata__"][k] = v
    return _rewrite(blob, header)


@pytest.fixture
def good(tmp_path):
    return tiny_model_file(tmp_path / "good.safetensors", num_classes=3)


def test_round_trip_keeps_weights_metadata_and_predictions(tmp_path):
    spec = tiny_spec(num_classes=3)
    state = tiny_state(spec)
    path = str(tmp_path / "m.safetensors")
    save_model(path, state, spec)
    loaded = load_model(path)
    for k, v in state.items():
        assert torch.equal(loaded.model.net.state_dict()[k], v.float())
    card = read_info(path).card()
    assert card["format"] == "studio.model/1"
    assert card["architecture"] == {"id": "mlp", "config": spec.arch_config}
    assert card["conditioning"] == {"num_classes": 3, "null_class": 3, "class_dropout": 0.1,
                                    "class_names": ["c0", "c1", "c2"]}
    assert card["data"]["normalisation"] == {"shift": [0.5, -0.25], "scale": 2.0}
    fresh = spec.build_model()
    fresh.net.load_state_dict(state)
    x, t = torch.randn(5, 2), torch.full((5,), 0.3, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, -1, 1])
    assert torch.equal(fresh(x, t, labels), loaded.model(x, t, labels))
    # data units: model * 2 + [0.5, -0.25]
    assert torch.allclose(spec.to_data_units(torch.zeros(1, 2)), torch.tensor([[0.5, -0.25]]))


def test_every_architecture_and_parameterization_round_trips(tmp_path):
    for i, (arch, kind, proc, pre) in enumerate([("unet", "v", "trig", "edm"),
                                                 ("mlp", "velocity", "rectified-flow", "none"),
                                                 ("mlp", "x0", "edm", "edm")]):
        path = tiny_model_file(tmp_path / f"m{i}.safetensors", arch=arch, parameterization=kind,
                               process=proc, precond=pre)
        info = read_info(path)
        assert info.spec.parameterization == kind and info.spec.process["kind"] == proc
        load_model(path)


def _expect(path, *phrases):
    with pytest.raises(ModelFileError) as err:
        load_model(str(path))
    msg = str(err.value)
    assert str(path) in msg, msg
    for p in phrases:
        assert p in msg, msg
    return msg


@pytest.mark.parametrize("cut", [4, 20, -1, -100])
def test_truncated_files_are_named(tmp_path, good, cut):
    blob = open(good, "rb").read()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(blob[:cut])
    _expect(bad, "truncated")


def test_corruptions_each_give_a_named_error(tmp_path, good):
    blob = open(good, "rb").read()
    n, header = _header(blob)
    cases = {}
    # bytes of the weights flipped: only the checksum can tell
    flipped = bytearray(blob)
    flipped[-7] ^= 0x55
    cases["flip"] = (bytes(flipped), ["checksum"])
    cases["header-json"] = (blob[:8] + b"X" + blob[9:], ["not valid JSON"])
    cases["header-len"] = (struct.pack("<Q", 2 ** 40) + blob[8:], ["header length"])
    cases["trailing"] = (blob + b"\0" * 16, ["unexpected bytes"])
    cases["no-meta"] = (_rewrite(blob, {k: v for k, v in header.items() if k != "__metadata__"}),
                        ["not a Diffusion Studio model"])
    cases["format"] = (_edit_meta(blob, format="studio.model/9"), ["unsupported format"])
    cases["no-process"] = (_edit_meta(blob, process=None), ["'process'"])
    cases["bad-json"] = (_edit_meta(blob, data="{oops"), ["'data'", "not valid JSON"])
    cases["param"] = (_edit_meta(blob, parameterization="noise"), ["parameterization"])
    cases["arch"] = (_edit_meta(blob, architecture=json.dumps({"id": "transformer", "config": {}})),
                     ["unknown architecture"])
    cases["arch-config"] = (_edit_meta(blob, architecture=json.dumps(
        {"id": "mlp", "config": {"width": 32, "depth": 1, "emb_dim": 8}})), ["shape"])
    cases["arch-param"] = (_edit_meta(blob, architecture=json.dumps(
        {"id": "mlp", "config": {"widht": 16}})), ["widht"])
    cases["process"] = (_edit_meta(blob, process=json.dumps({"kind": "vp-linear",
                                                             "params": {"beta_min": "x"}})),
                        ["beta_min"])
    cases["classes"] = (_edit_meta(blob, conditioning=json.dumps({"num_classes": 3,
                                                                  "null_class": 0})),
                        ["null_class"])
    cases["preview"] = (_edit_meta(blob, preview="@@@"), ["preview"])
    cases["shape"] = (_edit_meta(blob, data=json.dumps({"shape": [3], "kind": "points"})),
                      ["tensor", "shape"])
    # a tensor renamed (its offsets stay valid): missing + unexpected
    h2 = dict(header)
    first = next(k for k in h2 if k != "__metadata__")
    h2["renamed.weight"] = h2.pop(first)
    cases["names"] = (_rewrite(blob, h2), ["missing", "unexpected"])
    # offsets that do not match the dtype/shape
    h3 = json.loads(json.dumps(header))
    h3[first]["dtype"] = "F16"
    cases["offsets"] = (_rewrite(blob, h3), ["offsets"])
    for name, (data, phrases) in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(data)
        _expect(bad, *phrases)


def test_nan_weights_are_refused(tmp_path):
    spec = tiny_spec()
    state = tiny_state(spec)
    k = next(iter(state))
    state[k][0] = float("nan")
    path = tmp_path / "nan.safetensors"
    save_model(str(path), state, spec)
    _expect(path, "NaN")


def test_pickles_are_never_loaded(tmp_path):
    spec = tiny_spec()
    state = tiny_state(spec)
    for suffix in (".pt", ".ckpt", ".pth"):
        p = tmp_path / f"model{suffix}"
        torch.save(state, p)
        msg = _expect(p, "never loaded", "studio models import")
        assert "weights_only=True" in msg
    # a pickle in disguise
    p = tmp_path / "disguised.safetensors"
    torch.save(state, p)
    _expect(p, "pickled")


def test_missing_file_folder_and_wrong_suffix(tmp_path):
    _expect(tmp_path / "nope.safetensors", "not found")
    d = tmp_path / "dir.safetensors"
    d.mkdir()
    _expect(d, "folder")
    _expect(tmp_path / "model.onnx", ".safetensors")


def test_save_is_atomic(tmp_path, good, monkeypatch):
    before = open(good, "rb").read()
    spec = tiny_spec(num_classes=3)
    state = tiny_state(spec, seed=1)

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(modelfile.os, "replace", boom)
    with pytest.raises((OSError, StudioError)):  # a write failure is one clear StudioError
        save_model(good, state, spec)
    monkeypatch.undo()
    assert open(good, "rb").read() == before
    assert os.listdir(os.path.dirname(good)) == ["good.safetensors"]   # no temp file left
    save_model(good, state, spec)
    assert open(good, "rb").read() != before
    load_model(good)


def test_save_refuses_weights_that_do_not_fit(tmp_path):
    spec = tiny_spec()
    state = tiny_state(spec)
    state.pop(next(iter(state)))
    with pytest.raises(ModelFileError):
        save_model(str(tmp_path / "x.safetensors"), state, spec)
    assert not (tmp_path / "x.safetensors").exists()


def test_import_converts_a_checkpoint_reading_tensors_only(tmp_path):
    spec = tiny_spec(num_classes=3)
    state = tiny_state(spec)
    src = tmp_path / "ckpt.pt"
    torch.save({"ema": {"module." + k: v for k, v in state.items()}, "step": 3}, src)
    out = tmp_path / "conv.safetensors"
    card = spec.card()
    import_checkpoint(str(src), card, str(out), strip_prefix="module.")
    loaded = load_model(str(out))
    assert all(torch.equal(loaded.model.net.state_dict()[k], v) for k, v in state.items())
    # anything but tensors (here: an arbitrary object) is refused by weights_only loading
    evil = tmp_path / "evil.pt"
    torch.save({"ema": state, "obj": ModelSpec}, evil)
    with pytest.raises(ModelFileError, match="weights-only"):
        import_checkpoint(str(evil), card, str(tmp_path / "e.safetensors"))
    with pytest.raises(ModelFileError, match="missing"):
        import_checkpoint(str(src), card, str(tmp_path / "e.safetensors"), key="ema")


def test_assets_paths_resolve_or_say_what_exists(tmp_path):
    with pytest.raises(ParamError, match="no bundled model"):
        resolve_model_path("assets:nope.safetensors")
    with pytest.raises(ParamError):
        resolve_model_path("assets:../x.safetensors")
    assert resolve_model_path("m.safetensors", str(tmp_path)) == str(tmp_path / "m.safetensors")


def test_library_lists_good_and_bad_files(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(tmp_path / "user"))
    os.makedirs(tmp_path / "user")
    tiny_model_file(tmp_path / "user" / "a.safetensors")
    (tmp_path / "user" / "broken.safetensors").write_bytes(b"12345678")
    entries = {os.path.basename(e.path): e for e in list_models() if e.source == "user"}
    assert entries["a.safetensors"].info is not None
    assert "header length" in entries["broken.safetensors"].error
    p = new_model_path("My Model: v2!")
    assert p == tmp_path / "user" / "my-model-v2.safetensors"
    tiny_model_file(p)
    assert new_model_path("My Model: v2!").name == "my-model-v2-2.safetensors"


@pytest.mark.parametrize("name", sorted(p.name for p in bundled_dir().glob("*.safetensors")))
def test_bundled_models_are_valid(name):
    path = resolve_model_path("assets:" + name)
    info = read_info(path)
    assert info.spec.name and info.spec.description and info.spec.preview_png
    assert info.spec.training.get("seed") is not None

"""PNGs that carry their pipeline: round trips, foreign PNGs, `studio run IMAGE.png`, clear errors."""
from __future__ import annotations

import copy
import io
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.cli.main import main
from studio.core import pngmeta
from studio.core.errors import PipelineError

from .test_pipeline import BASE


def _image(h=12, w=16):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _pipeline():
    d = copy.deepcopy(BASE)
    d["ui"] = {"positions": {"proc": [0, 0]}, "note": "ünïcødé ✓"}   # unknown keys are kept
    return d


def test_write_read_round_trip_keeps_pixels_and_pipeline(tmp_path):
    img = _image()
    path = tmp_path / "out.png"
    pngmeta.write_png(path, img, _pipeline())
    assert pngmeta.read_pipeline(path) == _pipeline()
    assert pngmeta.has_pipeline(path)
    with Image.open(path) as im:                      # a standard reader sees the chunk too
        np.testing.assert_array_equal(np.asarray(im), img)
        assert json.loads(im.text[pngmeta.KEY]) == _pipeline()


def test_float_and_gray_arrays():
    gray = np.linspace(0, 1, 20).reshape(4, 5)
    png = pngmeta.embed(pngmeta.encode_png(gray), BASE)
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "L" and im.size == (5, 4)
        assert np.asarray(im)[-1, -1] == 255
    assert pngmeta.read_pipeline(png) == BASE
    with pytest.raises(PipelineError, match=r"\[H, W\]"):
        pngmeta.encode_png(np.zeros((2, 2, 2)))


def test_embed_into_foreign_png_keeps_other_chunks_and_replaces_old_pipeline():
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "someone else")
    info.add_text(pngmeta.KEY, json.dumps({"old": True}))      # a stale tEXt copy
    buf = io.BytesIO()
    Image.fromarray(_image()).save(buf, format="PNG", pnginfo=info)
    original = buf.getvalue()
    tagged = pngmeta.embed(original, BASE)
    assert pngmeta.read_pipeline(tagged) == BASE
    with Image.open(io.BytesIO(tagged)) as im:
        assert im.text["Software"] == "someone else"
        np.testing.assert_array_equal(np.asarray(im), _image())
    # exactly one pipeline chunk, placed before the image data
    types = [c[0] for c in pngmeta._chunks(tagged, "t")]
    keys = [pngmeta._parse_text(t, p, "t")[0] for t, p, _, _ in pngmeta._chunks(tagged, "t")
            if t in (b"tEXt", b"zTXt", b"iTXt")]
    assert keys.count(pngmeta.KEY) == 1
    assert types.index(b"iTXt") < types.index(b"IDAT")
    # re-embedding is idempotent in content
    again = pngmeta.embed(tagged, BASE)
    assert again == tagged


def test_reads_ztxt_and_plain_itxt():
    text = json.dumps(BASE)
    for chunk in (
        pngmeta._chunk(b"zTXt", pngmeta.KEY.encode() + b"\0\0" + zlib.compress(text.encode())),
        pngmeta._itxt(pngmeta.KEY, text, compress=False),
    ):
        png = pngmeta.encode_png(_image(2, 2))
        i = png.index(b"IDAT") - 4
        assert pngmeta.read_pipeline(png[:i] + chunk + png[i:]) == BASE


def test_png_without_pipeline_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.png"
    Image.fromarray(_image()).save(path)
    assert not pngmeta.has_pipeline(path)
    with pytest.raises(PipelineError, match="no embedded pipeline") as err:
        pngmeta.read_pipeline(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("data, match", [
    (b"GIF89a not a png", "not a PNG"),
    (pngmeta.SIGNATURE + struct.pack(">I", 100) + b"IHDR", "truncated"),
    (pngmeta.SIGNATURE, "no IEND"),
])
def test_broken_files(data, match):
    with pytest.raises(PipelineError, match=match):
        pngmeta.read_pipeline(data)


def test_embedded_text_that_is_not_a_pipeline_object():
    png = pngmeta.encode_png(_image(2, 2))
    bad = pngmeta.embed(png, "[1, 2]")
    with pytest.raises(PipelineError, match="not a JSON object"):
        pngmeta.read_pipeline(bad)
    i = png.index(b"IDAT") - 4
    broken = png[:i] + pngmeta._itxt(pngmeta.KEY, "{nope") + png[i:]
    with pytest.raises(PipelineError, match="not valid JSON"):
        pngmeta.read_pipeline(broken)
    with pytest.raises(PipelineError, match="cannot be written as JSON"):
        pngmeta.embed(png, {"x": float("nan")})


def test_compressed_text_bomb_is_refused(monkeypatch):
    monkeypatch.setattr(pngmeta, "MAX_TEXT", 1000)
    png = pngmeta.embed(pngmeta.encode_png(_image(2, 2)), {"pad": "x" * 5000})
    with pytest.raises(PipelineError, match="larger than"):
        pngmeta.read_pipeline(png)


def test_load_pipeline_resolves_relative_paths_against_png_folder(tmp_path):
    d = copy.deepcopy(BASE)
    d["nodes"]["model"] = {"type": "network", "kind": "empirical", "params": {"data": "pts.npy"}}
    sub = tmp_path / "gallery"
    sub.mkdir()
    np.save(sub / "pts.npy", np.array([[0.0, 0.0], [2.0, 2.0]]))
    pngmeta.write_png(sub / "img.png", _image(), d)
    pipe = pngmeta.load_pipeline(sub / "img.png")
    assert pipe.base_dir == str(sub)
    pipe.build()      # the .npy is found next to the PNG


def test_studio_run_accepts_png_and_matches_json(tmp_path):
    js = tmp_path / "p.json"
    js.write_text(json.dumps(BASE))
    png = tmp_path / "p.png"
    pngmeta.write_png(png, _image(), BASE)
    assert main(["run", str(js), "--out", str(tmp_path / "a.npz"), "--quiet"]) == 0
    assert main(["run", str(png), "--out", str(tmp_path / "b.npz"), "--quiet"]) == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a["solver.samples"], b["solver.samples"])


def test_studio_run_png_without_pipeline_exits_2_one_line(tmp_path):
    png = tmp_path / "plain.png"
    Image.fromarray(_image()).save(png)
    proc = subprocess.run([sys.executable, "-m", "studio", "run", str(png), "--out",
                           str(tmp_path / "r.npz")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no embedded pipeline" in lines[0] and "plain.png" in lines[0]
    assert not (tmp_path / "r.npz").exists()

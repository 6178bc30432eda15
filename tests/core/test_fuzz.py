"""Fuzz suite (issue 12): random mutations of valid inputs through the real loaders.

Property, for every input: the loader the CLI and the app use either succeeds or raises a
:class:`StudioError` with a message, within bounded time (hypothesis' deadline) — never another
exception. Inputs: pipelines (structural mutations of the parsed JSON and byte-level mutations of
its text), model-file metadata and headers, ``.npy`` headers and PNG text chunks.

Bounded for CI: ``FUZZ_EXAMPLES`` examples per target (``STUDIO_FUZZ_EXAMPLES`` raises it for a
longer local run); :data:`TRIED` counts the inputs actually tried (docs/RELIABILITY.md quotes it).
"""
from __future__ import annotations

import copy
import json
import os
import struct
import tempfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core import pngmeta, untrusted
from studio.core.errors import StudioError
from studio.core.pipeline import Pipeline

from .test_pipeline import BASE

FUZZ_EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=5000, database=None,
                derandomize="STUDIO_FUZZ_RANDOM" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: inputs tried per target in this session
TRIED: dict[str, int] = {}

leaves = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                   st.sampled_from(["assets:digits.safetensors", "../x.npy", "/etc/passwd",
                                    "x.npy", "edm", "euler", "heun", "float32", "meta", ""]))
values = st.recursive(leaves, lambda c: st.lists(c, max_size=4)
                      | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def mutate(data, draw, n: int):
    """``n`` structural mutations: replace a value, delete a key or item, insert a key."""
    obj = copy.deepcopy(data)
    for _ in range(n):
        paths = list(_paths(obj))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        if not path:
            if op == "replace":
                obj = draw(values)
            continue
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if op == "replace":
            parent[key] = draw(values)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(values)
        else:
            parent.insert(key, draw(values))
    return obj


def byte_mutate(blob: bytes, draw, n: int) -> bytes:
    """``n`` byte-level mutations: flip, delete a slice, insert bytes."""
    b = bytearray(blob)
    for _ in range(n):
        if not b:
            b += draw(st.binary(min_size=1, max_size=8))
            continue
        i = draw(st.integers(0, len(b) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip":
            b[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del b[i:i + draw(st.integers(1, 16))]
        else:
            b[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(b)


def holds(target: str, fn) -> None:
    """Run ``fn``: success or a StudioError with a message; count the input."""
    TRIED[target] = TRIED.get(target, 0) + 1
    try:
        fn()
    except StudioError as exc:
        assert str(exc).strip(), "a StudioError without a message"


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), np.ones((5, 2)))
        yield d


def _load_and_estimate(path: str) -> None:
    from studio.core.cost import sampling_estimate
    built = Pipeline.load(path).build()
    sampling_estimate(built).check(built.device(), "fuzz")


@FUZZ
@given(data=st.data(), n=st.integers(1, 4))
def test_fuzz_pipelines(folder, data, n):
    doc = mutate(BASE, data.draw, n)
    path = os.path.join(folder, "p.json")
    with open(path, "w") as fh:
        fh.write(json.dumps(doc, allow_nan=True))
    holds("pipeline (structure)", lambda: _load_and_estimate(path))


@FUZZ
@given(data=st.data(), n=st.integers(1, 6))
def test_fuzz_pipeline_text(folder, data, n):
    text = byte_mutate(json.dumps(BASE).encode(), data.draw, n)
    path = os.path.join(folder, "t.json")
    with open(path, "wb") as fh:
        fh.write(text)
    holds("pipeline (bytes)", lambda: _load_and_estimate(path))


@pytest.fixture(scope="module")
def model_blob():
    from safetensors.torch import load as st_load

    from studio.core.modelfile import encode_model

    from .models_helpers import tiny_spec, tiny_state
    spec = tiny_spec()
    blob = encode_model(tiny_state(spec), spec)
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    return blob, header, st_load(blob)


def _maybe_json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _model_file(header: dict, data: bytes) -> bytes:
    h = json.dumps(header, allow_nan=True).encode()
    return struct.pack("<Q", len(h)) + h + data


@FUZZ
@given(data=st.data(), n=st.integers(1, 3))
def test_fuzz_model_metadata(folder, model_blob, data, n):
    from studio.core.modelfile import load_model, read_info
    blob, header, _ = model_blob
    (hl,) = struct.unpack("<Q", blob[:8])
    meta = {k: _maybe_json(v) for k, v in header["__metadata__"].items()}
    meta = mutate(meta, data.draw, n)
    if not isinstance(meta, dict):
        meta = {"format": meta}
    header2 = dict(header)
    header2["__metadata__"] = {str(k): v if isinstance(v, str) else json.dumps(v, allow_nan=True)
                               for k, v in meta.items()}
    path = os.path.join(folder, "m.safetensors")
    with open(path, "wb") as fh:
        fh.write(_model_file(header2, blob[8 + hl:]))
    holds("model metadata", lambda: (read_info(path, verify_checksum=False), load_model(path)))


@FUZZ
@given(data=st.data(), n=st.integers(1, 6))
def test_fuzz_model_bytes(folder, model_blob, data, n):
    from studio.core.modelfile import read_info
    blob, _, _ = model_blob
    (hl,) = struct.unpack("<Q", blob[:8])
    head = byte_mutate(blob[:8 + hl], data.draw, n)
    path = os.path.join(folder, "b.safetensors")
    with open(path, "wb") as fh:
        fh.write(head + blob[8 + hl:])
    holds("model header bytes", lambda: read_info(path))


_NPY_KEYS = st.sampled_from(["descr", "fortran_order", "shape", "extra"])
_NPY_VALUES = st.one_of(
    st.sampled_from(["'<f8'", "'<i4'", "'|O'", "'|u1'", "[('a', '<f8')]", "'<U3'", "'>f4'",
                     "True", "False", "(2,)", "(2, 3)", "(10**12,)", "(-1,)", "()", "(3, 0)",
                     "__import__('os')", "{}", "1e999", "'x' * 10"]),
    st.text(max_size=10))


@FUZZ
@given(entries=st.dictionaries(_NPY_KEYS, _NPY_VALUES, max_size=4),
       version=st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x00"]),
       payload=st.binary(max_size=64))
def test_fuzz_npy_headers(folder, entries, version, payload):
    text = "{" + ", ".join(f"'{k}': {v}" for k, v in entries.items()) + "}"
    body = text.encode("utf-8", "replace")
    body = body + b" " * (-(len(body) + 11) % 64) + b"\n"
    size = struct.pack("<H", len(body)) if version == b"\x01\x00" else struct.pack("<I", len(body))
    path = os.path.join(folder, "h.npy")
    with open(path, "wb") as fh:
        fh.write(b"\x93NUMPY" + version + size + body + payload)
    holds(".npy header", lambda: untrusted.load_npy(path))


_PNG = pngmeta.encode_png(np.zeros((2, 2)))


@st.composite
def text_chunks(draw):
    ctype = draw(st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"IDAT", b"xxXx"]))
    key = draw(st.sampled_from([pngmeta.KEY.encode(), b"other", b"", b"k" * 90]))
    text = draw(st.one_of(st.just(json.dumps(BASE).encode()), st.binary(max_size=40),
                          st.just(b"[" * 5000)))
    compress = draw(st.booleans())
    body = zlib.compress(text) if compress else text
    if ctype == b"zTXt":
        payload = key + b"\0" + bytes([draw(st.integers(0, 1))]) + body
    elif ctype == b"iTXt":
        payload = key + b"\0" + bytes([int(compress), draw(st.integers(0, 1))]) + b"\0\0" + body
    else:
        payload = key + b"\0" + text
    if draw(st.booleans()):
        payload = byte_mutate(payload, draw, draw(st.integers(1, 3)))
    return pngmeta._chunk(ctype, payload)


@FUZZ
@given(chunks=st.lists(text_chunks(), max_size=5), cut=st.integers(0, 40))
def test_fuzz_png_chunks(folder, chunks, cut):
    data = _PNG[:33] + b"".join(chunks) + _PNG[33:]
    if cut:
        data = data[:-cut]
    path = os.path.join(folder, "f.png")
    with open(path, "wb") as fh:
        fh.write(data)
    holds("PNG chunks", lambda: pngmeta.load_pipeline(path).build())


def test_fuzz_report():
    """Print the number of inputs tried (run after the fuzz targets; -s shows it)."""
    print("fuzz inputs tried:", json.dumps(TRIED), "total", sum(TRIED.values()))

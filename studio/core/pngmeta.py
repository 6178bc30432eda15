"""PNG images that carry their pipeline: write, embed and read the ``studio.pipeline`` text chunk.

An exported image holds the pipeline JSON that made it in an ``iTXt`` chunk (UTF-8, deflated) under
the keyword :data:`KEY`, so dropping the PNG on the app or passing it to ``studio run`` restores the
pipeline exactly. Readers also accept the key in ``tEXt`` (Latin-1) and ``zTXt`` chunks, as other
tools may rewrite it that way.

The chunk work is done on the PNG byte stream itself (no re-encoding of the pixels), so a PNG made by
any program (the app's screenshots and plot exports, Pillow, other tools) can be tagged and keeps its other
chunks. Pillow is used only to encode arrays into PNGs. Torch-free and Qt-free.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Any, Iterator

from .errors import PipelineError, StudioError
from .untrusted import LIMITS, check_regular, loads_json, read_regular

__all__ = ["KEY", "SIGNATURE", "embed", "write_png", "read_text", "read_pipeline", "has_pipeline",
           "load_pipeline", "is_png", "encode_png"]

#: the text-chunk keyword that holds the pipeline JSON
KEY = "studio.pipeline"
SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: a pipeline text larger than this (after decompression) is refused: a guard against zip bombs
MAX_TEXT = 64 * 1024 * 1024
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")


# -- chunks ---------------------------------------------------------------------------------------
def _chunks(data: bytes, where: str) -> Iterator[tuple[bytes, bytes, int, int]]:
    """(type, payload, start, end) for every chunk; ``start:end`` spans length, type, data, CRC."""
    if not data.startswith(SIGNATURE):
        raise PipelineError("not a PNG file", where)
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise PipelineError("truncated PNG (chunk header cut off)", where)
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise PipelineError(f"truncated PNG (chunk {ctype.decode('latin-1')!r} cut off)", where)
        yield ctype, data[pos + 8:pos + 8 + length], pos, end
        pos = end
        if ctype == b"IEND":
            return
    raise PipelineError("truncated PNG (no IEND chunk)", where)


def _chunk(ctype: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(ctype + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", crc)


def _inflate(blob: bytes, where: str) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(blob, MAX_TEXT + 1)
    except zlib.error as exc:
        raise PipelineError(f"corrupt compressed text chunk ({exc})", where) from None
    if len(out) > MAX_TEXT:
        raise PipelineError(f"embedded text larger than {MAX_TEXT // (1024 * 1024)} MiB", where)
    return out


def _keyword(payload: bytes) -> str | None:
    """The keyword of a text chunk (read without inflating anything), or None if malformed."""
    key, sep, _ = payload[:80].partition(b"\0")  # PNG keywords are 1..79 bytes
    return key.decode("latin-1") if sep else None


def _parse_text(ctype: bytes, payload: bytes, where: str) -> tuple[str, str] | None:
    """(keyword, text) of a text chunk, or None if it is malformed. Callers check the keyword
    with :func:`_keyword` first, so only the wanted chunk is ever inflated."""
    key, sep, rest = payload.partition(b"\0")
    if not sep:
        return None
    keyword = key.decode("latin-1")
    if ctype == b"tEXt":
        return keyword, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            return None
        return keyword, _inflate(rest[1:], where).decode("latin-1")
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        return None
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        return None
    text = parts[2]
    if flag == 1:
        if method != 0:
            return None
        text = _inflate(text, where)
    try:
        return keyword, text.decode("utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"text chunk {keyword!r} is not valid UTF-8", where) from None


def _itxt(key: str, text: str, compress: bool = True) -> bytes:
    body = text.encode("utf-8")
    if compress:
        body = zlib.compress(body, 9)
    return _chunk(b"iTXt", key.encode("latin-1") + b"\0" + bytes([1 if compress else 0, 0])
                  + b"\0\0" + body)


# -- reading --------------------------------------------------------------------------------------
def _read_bytes(source: str | bytes | os.PathLike, where: str | None = None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), where or "PNG"
    path = os.fspath(source)
    return read_regular(path, where or path, PipelineError, LIMITS["png_bytes"]), where or path


def is_png(source: str | bytes | os.PathLike) -> bool:
    """True if ``source`` (a path or bytes) starts with the PNG signature."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:8]) == SIGNATURE
    try:
        check_regular(os.fspath(source))
        with open(os.fspath(source), "rb") as fh:
            return fh.read(8) == SIGNATURE
    except (OSError, PipelineError, StudioError):
        return False


def _find_text(data: bytes, where: str, key: str) -> str | None:
    for ctype, payload, _, _ in _chunks(data, where):
        if ctype in _TEXT_TYPES and _keyword(payload) == key:
            parsed = _parse_text(ctype, payload, where)
            if parsed is not None and parsed[0] == key:
                return parsed[1]
    return None


def read_text(source: str | bytes | os.PathLike, key: str = KEY) -> str | None:
    """The text stored under ``key`` (the first chunk that has it), or None. Raises
    :class:`PipelineError` if the source is not a readable PNG."""
    return _find_text(*_read_bytes(source), key)


def has_pipeline(source: str | bytes | os.PathLike) -> bool:
    try:
        return read_text(source) is not None
    except PipelineError:
        return False


def read_pipeline(source: str | bytes | os.PathLike) -> dict:
    """The embedded pipeline as a dict (not validated). Raises :class:`PipelineError` with a clear
    message if the file is not a PNG, has no pipeline, or the pipeline is not a JSON object."""
    data, where = _read_bytes(source)
    text = _find_text(data, where, KEY)
    if text is None:
        raise PipelineError(f"this PNG has no embedded pipeline (no {KEY!r} text chunk); export "
                            "it from the studio's gallery, or pass the pipeline JSON", where)
    data = loads_json(text, f"{where}: embedded pipeline", PipelineError)
    if not isinstance(data, dict):
        raise PipelineError("the embedded pipeline is not a JSON object", where)
    return data


def load_pipeline(path: str | os.PathLike, strict: bool = True):
    """A :class:`studio.core.pipeline.Pipeline` from a PNG; relative paths in it (``.npy`` arrays,
    model files) resolve against the PNG's folder, as they would for a JSON file there."""
    from .pipeline import Pipeline
    path = os.fspath(path)
    data = read_pipeline(path)
    return Pipeline.from_dict(data, os.path.dirname(os.path.abspath(path)), path, strict)


# -- writing --------------------------------------------------------------------------------------
def _pipeline_text(pipeline: Any) -> str:
    if hasattr(pipeline, "to_dict") and not isinstance(pipeline, dict):
        pipeline = pipeline.to_dict()
    if isinstance(pipeline, str):
        try:
            json.loads(pipeline)
        except json.JSONDecodeError as exc:
            raise PipelineError(f"not valid JSON: {exc.msg}", "pipeline") from None
        return pipeline
    if not isinstance(pipeline, dict):
        raise PipelineError("expected a pipeline dict, JSON text or Pipeline", "pipeline")
    try:
        return json.dumps(pipeline, indent=2, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"the pipeline cannot be written as JSON: {exc}", "pipeline") from None


def embed(png: bytes, pipeline: Any, key: str = KEY, extra: dict[str, str] | None = None) -> bytes:
    """``png`` with the pipeline (dict, JSON text or Pipeline) in an iTXt chunk under ``key``,
    placed before the image data; an earlier chunk with that key (or any key of ``extra``) is
    replaced. The pixels and other chunks are kept byte for byte."""
    texts = {key: _pipeline_text(pipeline)}
    texts.update(extra or {})
    out = [SIGNATURE]
    inserted = False
    for ctype, payload, start, end in _chunks(png, "PNG"):
        if ctype in _TEXT_TYPES and _keyword(payload) in texts:
            continue
        if not inserted and ctype in (b"IDAT", b"IEND"):
            out.extend(_itxt(k, v) for k, v in texts.items())
            inserted = True
        out.append(png[start:end])
    return b"".join(out)


def encode_png(image: Any) -> bytes:
    """PNG bytes of a PIL image or an array ``[H, W]``, ``[H, W, 3]``, ``[H, W, 4]`` (uint8, or
    float in [0, 1], clipped)."""
    import io

    import numpy as np
    from PIL import Image

    if isinstance(image, (bytes, bytearray)):
        if not bytes(image[:8]) == SIGNATURE:
            raise PipelineError("bytes given as the image are not a PNG", "image")
        return bytes(image)
    if not isinstance(image, Image.Image):
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            arr = np.clip(np.nan_to_num(arr.astype(np.float64)), 0.0, 1.0)
            arr = np.round(arr * 255.0).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise PipelineError(f"an image must be [H, W], [H, W, 3] or [H, W, 4]; got "
                                f"{list(arr.shape)}", "image")
        image = Image.fromarray(np.ascontiguousarray(arr))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: str | os.PathLike, image: Any, pipeline: Any,
              extra: dict[str, str] | None = None) -> None:
    """Write ``image`` (PIL image, array or PNG bytes) to ``path`` with the pipeline embedded
    (atomically: a crash never leaves a half-written file)."""
    from .pipeline import write_atomic
    write_atomic(os.fspath(path), embed(encode_png(image), pipeline, extra=extra))

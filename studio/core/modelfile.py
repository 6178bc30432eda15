"""Model files (format ``studio.model/1``): one ``.safetensors`` file, weights plus metadata.

A model file holds the module's tensors (float32) and string metadata; structured values are JSON:

    format            "studio.model/1"
    name, description plain text
    architecture      {"id": "unet", "config": {...}}          (an ARCHITECTURES id and its params)
    parameterization  "eps" | "x0" | "v" | "velocity" | "score", or "logits" for a
                      noise-conditional classifier (architecture "classifier"; conditioning
                      then gives the classes it predicts), used by classifier guidance
    process           {"kind": "vp-linear", "params": {...}}   (the process it was trained with)
    data              {"shape": [1, 8, 8], "kind": "image" | "points", "range": [0, 1] | null,
                       "normalisation": {"shift": s, "scale": k}}  data = model * k + s, then
                       clipped to range (s, k scalars or one value per channel/coordinate)
    preconditioning   {"kind": "none" | "edm", "sigma_data": 0.5, "time_input": "t" | "log-sigma"}
    conditioning      {"num_classes": 10, "null_class": 10, "class_dropout": 0.1,
                       "class_names": ["0", ...]}               (num_classes 0: unconditional)
    training          free-form summary: dataset, steps, batch, loss, seconds, seed, ...
    preview           a small PNG, base64 ("" if none)
    checksum          "sha256:<hex>" of the tensor data

Loading validates the container, the metadata and every tensor's name, dtype and shape against
the architecture before any weight is used, and checks the checksum; every problem raises
:class:`ModelFileError` naming the file. Pickled checkpoints (.pt, .ckpt, ...) are refused: they
can execute code. ``studio models import`` converts one explicitly (torch.load(weights_only=True)).
Saving is atomic (temporary file in the same folder, fsync, rename).
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import torch

from .atomic import write_atomic
from .nn.meta import on_meta
from .errors import StudioError
from .untrusted import LIMITS, loads_json, read_regular

FORMAT = "studio.model/1"
PARAMETERIZATIONS = ("eps", "x0", "v", "velocity", "score", "logits", "flow-map")
#: the parameterization of a flow-map model
FLOW_MAP = "flow-map"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle")
MAX_HEADER = 100 * 1024 * 1024
DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U8": 1, "BOOL": 1}
REQUIRED_KEYS = ("format", "name", "architecture", "parameterization", "process", "data",
                 "preconditioning", "conditioning", "checksum")


class ModelFileError(StudioError):
    """A model file that cannot be read or used; the message names the file and the problem."""


def pickle_message(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0] or "model"
    return ("pickled PyTorch checkpoints are never loaded (unpickling can run arbitrary code). "
            "Convert it once, explicitly: studio models import "
            f"{path} --arch ARCH --meta META.json --out {stem}.safetensors  "
            "(reads tensors only, with torch.load(weights_only=True))")


# -- the metadata ---------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    """Everything about a model except its weights."""

    architecture: str
    arch_config: dict
    parameterization: str
    process: dict                      # {"kind": ..., "params": {...}}
    data_shape: list[int]
    data_kind: str = "points"          # "points" | "image"
    data_range: list[float] | None = None
    shift: Any = 0.0                   # float or list (one per channel / coordinate)
    scale: Any = 1.0
    precond: str = "none"
    sigma_data: float = 1.0
    time_input: str = "t"
    num_classes: int = 0
    class_dropout: float = 0.0
    class_names: list[str] | None = None
    training: dict = field(default_factory=dict)
    name: str = ""
    description: str = ""
    preview_png: bytes | None = None
    #: flow-map models only: {"time_pair": "t->s", "velocity_parameterization": kind}
    flow_map: dict | None = None

    @property
    def is_flow_map(self) -> bool:
        """A flow-map model (x_t, t, s) -> x_s rather than a denoiser at one time."""
        return self.parameterization == FLOW_MAP

    @property
    def velocity_parameterization(self) -> str:
        """What the module predicts at (x, t, t): the parameterization of its implied velocity
        (for a flow-map model), else the parameterization itself."""
        return self.flow_map["velocity_parameterization"] if self.is_flow_map else \
            self.parameterization

    @property
    def is_classifier(self) -> bool:
        """A noise-conditional classifier p(class | x_t) rather than a denoiser."""
        return self.parameterization == "logits"

    @property
    def null_class(self) -> int | None:
        return self.num_classes if self.num_classes > 0 else None

    def to_metadata(self) -> dict[str, str]:
        meta = {
            "format": FORMAT,
            "name": self.name,
            "description": self.description,
            "architecture": json.dumps({"id": self.architecture, "config": self.arch_config}),
            "parameterization": self.parameterization,
            "process": json.dumps(self.process),
            "data": json.dumps({"shape": list(self.data_shape), "kind": self.data_kind,
                                "range": self.data_range,
                                "normalisation": {"shift": self.shift, "scale": self.scale}}),
            "preconditioning": json.dumps({"kind": self.precond, "sigma_data": self.sigma_data,
                                           "time_input": self.time_input}),
            "conditioning": json.dumps({"num_classes": self.num_classes,
                                        "null_class": self.null_class,
                                        "class_dropout": self.class_dropout,
                                        "class_names": self.class_names}),
            "training": json.dumps(self.training),
            "preview": base64.b64encode(self.preview_png).decode("ascii") if self.preview_png else "",
        }
        if self.is_flow_map:
            meta["flow_map"] = json.dumps(self.flow_map)
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str) -> "ModelSpec":
        return _parse_metadata(meta, where)

    @classmethod
    def from_card(cls, card: dict, where: str) -> "ModelSpec":
        """A spec from the JSON object that :meth:`card` returns (the ``--meta`` of an import)."""
        if not isinstance(card, dict):
            raise ModelFileError("model metadata must be a JSON object", where)
        meta = {"format": FORMAT, "checksum": "", "name": str(card.get("name", "")),
                "description": str(card.get("description", "")),
                "parameterization": str(card.get("parameterization", ""))}
        if card.get("flow_map") is not None:
            meta["flow_map"] = json.dumps(card["flow_map"])
        for key in ("architecture", "process", "data", "preconditioning", "conditioning",
                    "training"):
            default = {"preconditioning": {"kind": "none", "sigma_data": 1.0, "time_input": "t"},
                       "conditioning": {"num_classes": 0}, "training": {}}.get(key)
            val = card.get(key, default)
            if val is None:
                raise ModelFileError(f"missing {key!r}", where)
            meta[key] = json.dumps(val)
        return _parse_metadata(meta, where)

    def card(self) -> dict:
        """What the model browser and ``studio models inspect`` show (no preview bytes)."""
        out = {
            "name": self.name, "description": self.description,
            "architecture": {"id": self.architecture, "config": self.arch_config},
            "parameterization": self.parameterization, "process": self.process,
            "data": {"shape": list(self.data_shape), "kind": self.data_kind,
                     "range": self.data_range,
                     "normalisation": {"shift": self.shift, "scale": self.scale}},
            "preconditioning": {"kind": self.precond, "sigma_data": self.sigma_data,
                                "time_input": self.time_input},
            "conditioning": {"num_classes": self.num_classes, "null_class": self.null_class,
                             "class_dropout": self.class_dropout, "class_names": self.class_names},
            "training": self.training,
            "preview_png_bytes": len(self.preview_png) if self.preview_png else 0,
        }
        if self.is_flow_map:
            out["flow_map"] = dict(self.flow_map)
        return out

    # -- units ---------------------------------------------------------------------------------
    def _per_channel(self, v: Any, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
        if t.ndim == 1:
            t = t.reshape((1, -1) + (1,) * (like.ndim - 2))
        return t

    def to_data_units(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self._per_channel(self.scale, x) + self._per_channel(self.shift, x)
        if self.data_range is not None:
            y = y.clamp(self.data_range[0], self.data_range[1])
        return y

    def to_model_units(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._per_channel(self.shift, x)) / self._per_channel(self.scale, x)

    # -- building ------------------------------------------------------------------------------
    def build_process(self, where: str = "model"):
        from .params import build
        from .registry import PROCESSES
        return build(PROCESSES.get(self.process["kind"], f"{where}: process.kind"),
                     self.process.get("params", {}), f"{where}: process.params")

    def build_architecture(self, where: str = "model"):
        from .nn.registry import ARCHITECTURES
        from .params import build
        return build(ARCHITECTURES.get(self.architecture, f"{where}: architecture.id"),
                     self.arch_config, f"{where}: architecture.config")

    def build_model(self, where: str = "model"):
        """A freshly initialised :class:`~studio.core.nn.denoising.DenoisingModel` for this spec."""
        from .nn.denoising import DenoisingModel
        from .nn.flowmap import FlowMapModel
        arch = self.build_architecture(where)
        net = arch.module(tuple(self.data_shape), self.num_classes)
        cls = FlowMapModel if self.is_flow_map else DenoisingModel
        return cls(net, self.build_process(where), self.velocity_parameterization, self.precond,
                   self.sigma_data, self.time_input, self.num_classes)


def _load_json(meta: dict, key: str, where: str, kind=dict) -> Any:
    raw = meta.get(key)
    if raw is None:
        raise ModelFileError(f"metadata has no {key!r} entry", where)
    try:
        val = loads_json(raw, where, ModelFileError)
    except ModelFileError as exc:
        raise ModelFileError(f"metadata {key!r}: {exc.problem}", where) from None
    if kind is not None and not isinstance(val, kind):
        raise ModelFileError(f"metadata {key!r} must be a JSON {kind.__name__}", where)
    return val


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_metadata(meta: dict[str, str], where: str) -> ModelSpec:
    from .params import build
    from .registry import PROCESSES
    from .nn.registry import ARCHITECTURES
    from .nn.denoising import PRECONDS, TIME_INPUTS

    fmt = meta.get("format")
    if fmt is None:
        raise ModelFileError("not a Diffusion Studio model (its metadata has no 'format'); "
                             "import foreign weights with `studio models import`", where)
    if fmt != FORMAT:
        raise ModelFileError(f"unsupported format {fmt!r} (this version reads {FORMAT!r})", where)
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise ModelFileError(f"metadata has no {key!r} entry", where)
    arch = _load_json(meta, "architecture", where)
    if not isinstance(arch.get("id"), str) or not isinstance(arch.get("config", {}), dict):
        raise ModelFileError("metadata 'architecture' needs an 'id' string and a 'config' object",
                             where)
    if arch["id"] not in ARCHITECTURES:
        raise ModelFileError(f"unknown architecture {arch['id']!r}; this version knows: "
                             f"{', '.join(ARCHITECTURES.ids())}", where)
    param_kind = meta["parameterization"]
    if param_kind not in PARAMETERIZATIONS:
        raise ModelFileError(f"metadata 'parameterization' must be one of "
                             f"{', '.join(PARAMETERIZATIONS)}, got {param_kind!r}", where)
    proc = _load_json(meta, "process", where)
    if not isinstance(proc.get("kind"), str) or not isinstance(proc.get("params", {}), dict):
        raise ModelFileError("metadata 'process' needs a 'kind' string and a 'params' object", where)
    if proc["kind"] not in PROCESSES:
        raise ModelFileError(f"unknown process {proc['kind']!r} in metadata 'process'", where)
    try:
        build(PROCESSES.get(proc["kind"]), proc.get("params", {}), "process.params")
    except StudioError as exc:
        raise ModelFileError(f"metadata {exc}", where) from None
    data = _load_json(meta, "data", where)
    shape = data.get("shape")
    if not (isinstance(shape, list) and shape and all(isinstance(v, int) and v > 0 for v in shape)):
        raise ModelFileError("metadata 'data.shape' must be a list of positive integers", where)
    kind = data.get("kind", "points")
    if kind not in ("points", "image"):
        raise ModelFileError(f"metadata 'data.kind' must be 'points' or 'image', got {kind!r}", where)
    rng = data.get("range")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(map(_num, rng))
                                and rng[0] < rng[1]):
        raise ModelFileError("metadata 'data.range' must be null or [low, high] with low < high",
                             where)
    norm = data.get("normalisation", {"shift": 0.0, "scale": 1.0})
    if not isinstance(norm, dict):
        raise ModelFileError("metadata 'data.normalisation' must be an object", where)
    shift, scale = norm.get("shift", 0.0), norm.get("scale", 1.0)
    for name, v in (("shift", shift), ("scale", scale)):
        ok = _num(v) or (isinstance(v, list) and len(v) == shape[0] and all(map(_num, v)))
        if not ok:
            raise ModelFileError(f"metadata 'data.normalisation.{name}' must be a number or a list "
                                 f"of {shape[0]} numbers", where)
    if any(v <= 0 for v in (scale if isinstance(scale, list) else [scale])):
        raise ModelFileError("metadata 'data.normalisation.scale' must be positive", where)
    pre = _load_json(meta, "preconditioning", where)
    if pre.get("kind") not in PRECONDS:
        raise ModelFileError(f"metadata 'preconditioning.kind' must be one of {', '.join(PRECONDS)}",
                             where)
    if not (_num(pre.get("sigma_data")) and pre["sigma_data"] > 0):
        raise ModelFileError("metadata 'preconditioning.sigma_data' must be a positive number", where)
    if pre.get("time_input", "t") not in TIME_INPUTS:
        raise ModelFileError(f"metadata 'preconditioning.time_input' must be one of "
                             f"{', '.join(TIME_INPUTS)}", where)
    cond = _load_json(meta, "conditioning", where)
    nc = cond.get("num_classes", 0)
    if not (isinstance(nc, int) and not isinstance(nc, bool) and 0 <= nc <= 100000):
        raise ModelFileError("metadata 'conditioning.num_classes' must be an integer >= 0", where)
    null = cond.get("null_class")
    if nc > 0 and null != nc:
        raise ModelFileError(f"metadata 'conditioning.null_class' must be {nc} (= num_classes)",
                             where)
    dropout = cond.get("class_dropout", 0.0)
    if not (_num(dropout) and 0 <= dropout <= 1):
        raise ModelFileError("metadata 'conditioning.class_dropout' must be in [0, 1]", where)
    names = cond.get("class_names")
    if names is not None and not (isinstance(names, list) and len(names) == nc
                                  and all(isinstance(n, str) for n in names)):
        raise ModelFileError(f"metadata 'conditioning.class_names' must be null or {nc} strings",
                             where)
    output = getattr(ARCHITECTURES.get(arch["id"]), "output", "field")
    if (param_kind == "logits") != (output == "logits"):
        raise ModelFileError(f"parameterization {param_kind!r} does not fit architecture "
                             f"{arch['id']!r} (which predicts {output})", where)
    if param_kind == "logits" and (nc < 2 or pre["kind"] != "none"):
        raise ModelFileError("a classifier (parameterization 'logits') needs "
                             "conditioning.num_classes >= 2 and no preconditioning", where)
    from .nn.flowmap import parse_flow_map_metadata
    flow_map = parse_flow_map_metadata(meta, param_kind, arch, where)
    training = _load_json(meta, "training", where) if meta.get("training") else {}
    preview = None
    if meta.get("preview"):
        try:
            preview = base64.b64decode(meta["preview"], validate=True)
        except ValueError:
            raise ModelFileError("metadata 'preview' is not valid base64", where) from None
        if not preview.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ModelFileError("metadata 'preview' is not a PNG image", where)
    return ModelSpec(
        architecture=arch["id"], arch_config=arch.get("config", {}), parameterization=param_kind,
        process={"kind": proc["kind"], "params": proc.get("params", {})}, data_shape=list(shape),
        data_kind=kind, data_range=rng, shift=shift, scale=scale, precond=pre["kind"],
        sigma_data=float(pre["sigma_data"]), time_input=pre.get("time_input", "t"),
        num_classes=nc, class_dropout=float(dropout), class_names=names, training=training,
        name=str(meta.get("name", "")), description=str(meta.get("description", "")),
        preview_png=preview, flow_map=flow_map)


# -- the container ---------------------------------------------------------------------------------
@dataclass
class Container:
    """A parsed safetensors container: header entries, metadata and the raw data region."""

    path: str
    entries: dict[str, dict]
    metadata: dict[str, str]
    data: bytes

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v["shape"]) for k, v in self.entries.items()}


def _check_path(path: str) -> str:
    where = str(path)
    low = where.lower()
    if low.endswith(PICKLE_SUFFIXES):
        raise ModelFileError(pickle_message(where), where)
    if not low.endswith(".safetensors"):
        raise ModelFileError("a model file must be a .safetensors file", where)
    return where


def read_container(path: str) -> Container:
    """Read and check the safetensors structure of ``path`` (no tensor is decoded)."""
    where = _check_path(path)
    blob = read_regular(path, where, ModelFileError, LIMITS["model_bytes"])
    if (blob[:2] == b"PK" or blob[:1] == b"\x80") and blob[8:9] != b"{":  # not a safetensors header
        raise ModelFileError("this is a pickled PyTorch checkpoint, not safetensors: "
                             + pickle_message(where), where)
    if len(blob) < 8:
        raise ModelFileError(f"truncated: {len(blob)} bytes, too short for a safetensors header",
                             where)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER:
        raise ModelFileError(f"corrupted: header length {n} is implausible (not a safetensors file?)",
                             where)
    if 8 + n > len(blob):
        raise ModelFileError(f"truncated: the header needs {n} bytes but the file has only "
                             f"{len(blob) - 8} after the length field", where)
    try:
        header = loads_json(blob[8:8 + n], where, ModelFileError, max_depth=8,
                            max_string=MAX_HEADER, max_key=1024)
    except ModelFileError as exc:
        raise ModelFileError(f"corrupted: the safetensors header is not acceptable JSON "
                             f"({exc.problem})", where) from None
    if not isinstance(header, dict):
        raise ModelFileError("corrupted: the safetensors header is not a JSON object", where)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError("corrupted: safetensors metadata must map strings to strings", where)
    data = blob[8 + n:]
    end_max = 0
    for name, e in header.items():
        if not (isinstance(e, dict) and e.get("dtype") in DTYPE_SIZES
                and isinstance(e.get("shape"), list)
                and all(isinstance(v, int) and v >= 0 for v in e["shape"])
                and isinstance(e.get("data_offsets"), list) and len(e["data_offsets"]) == 2):
            raise ModelFileError(f"corrupted: bad header entry for tensor {name!r}", where)
        lo, hi = e["data_offsets"]
        need = math.prod(e["shape"]) * DTYPE_SIZES[e["dtype"]]
        if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi and hi - lo == need):
            raise ModelFileError(f"corrupted: tensor {name!r} has offsets {lo}..{hi} that do not "
                                 f"match its shape {e['shape']} and dtype {e['dtype']}", where)
        end_max = max(end_max, hi)
    if end_max > len(data):
        raise ModelFileError(f"truncated: the tensors need {end_max} bytes of data, the file has "
                             f"{len(data)}", where)
    if end_max < len(data):
        raise ModelFileError(f"corrupted: {len(data) - end_max} unexpected bytes after the tensor "
                             "data", where)
    return Container(where, header, meta, data)


def checksum(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class ModelInfo:
    """A validated model file's metadata and tensor index (weights not decoded)."""

    path: str
    spec: ModelSpec
    tensors: dict[str, tuple[int, ...]]
    size_bytes: int

    @property
    def parameters(self) -> int:
        return sum(math.prod(s) for s in self.tensors.values())

    def card(self) -> dict:
        out = {"path": self.path, "format": FORMAT}
        out.update(self.spec.card())
        out["parameters"] = self.parameters
        out["size_bytes"] = self.size_bytes
        return out


def _expected_tensors(spec: ModelSpec, where: str) -> dict[str, tuple[int, ...]]:
    arch = spec.build_architecture(where)
    try:
        arch.check(tuple(spec.data_shape), spec.num_classes)
    except StudioError as exc:
        raise ModelFileError(f"architecture {spec.architecture!r} does not fit the data: {exc}",
                             where) from None
    with on_meta():                      # shapes only: nothing allocated, no weight init
        module = arch.module(tuple(spec.data_shape), spec.num_classes)
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _match_tensors(c: Container, spec: ModelSpec, where: str) -> None:
    expected = _expected_tensors(spec, where)
    got = c.tensor_shapes()
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]!r})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]!r})")
        raise ModelFileError(f"tensors do not match architecture {spec.architecture!r} "
                             f"{spec.arch_config}: {', '.join(parts)}", where)
    for k, shape in expected.items():
        if got[k] != shape:
            raise ModelFileError(f"tensor {k!r} has shape {list(got[k])}, architecture "
                                 f"{spec.architecture!r} needs {list(shape)}", where)
        if c.entries[k]["dtype"] not in ("F32", "F16", "BF16", "F64"):
            raise ModelFileError(f"tensor {k!r} has dtype {c.entries[k]['dtype']}, expected a "
                                 "floating-point type", where)


def _validate(c: Container, verify_checksum: bool) -> ModelSpec:
    where = c.path
    try:
        spec = ModelSpec.from_metadata(c.metadata, where)
    except ModelFileError:
        raise
    except StudioError as exc:
        raise ModelFileError(str(exc), where) from None
    if verify_checksum:
        want = c.metadata.get("checksum", "")
        if want != checksum(c.data):
            raise ModelFileError("corrupted: the tensor data does not match its checksum "
                                 f"(stored {want[:19]}..., computed {checksum(c.data)[:19]}...)",
                                 where)
    try:
        _match_tensors(c, spec, where)
    except ModelFileError:
        raise
    except StudioError as exc:
        raise ModelFileError(f"metadata {exc}", where) from None
    return spec


def read_info(path: str, verify_checksum: bool = True) -> ModelInfo:
    """Validate a model file's structure and metadata (tensors checked by name and shape)."""
    c = read_container(path)
    spec = _validate(c, verify_checksum)
    return ModelInfo(c.path, spec, c.tensor_shapes(), os.path.getsize(path))


@dataclass
class LoadedModel:
    """A model file's spec and its module with the weights loaded (eval mode, float32, CPU)."""

    path: str
    spec: ModelSpec
    model: Any  # DenoisingModel
    size_bytes: int = 0

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def load_model(path: str) -> LoadedModel:
    """Read, validate and load a model file. Raises :class:`ModelFileError` on any problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    c = read_container(path)
    spec = _validate(c, verify_checksum=True)
    where = c.path
    try:
        raw = st_load(read_regular(path, where, ModelFileError, LIMITS["model_bytes"]))
    except SafetensorError as exc:
        raise ModelFileError(f"corrupted: {exc}", where) from None
    for k, v in raw.items():
        if not bool(torch.isfinite(v).all()):
            raise ModelFileError(f"tensor {k!r} holds NaN or Inf", where)
    model = spec.build_model(where)
    model.net.load_state_dict({k: v.to(torch.float32) for k, v in raw.items()}, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return LoadedModel(where, spec, model, os.path.getsize(path))


# -- writing ---------------------------------------------------------------------------------------
def save_tensors_atomic(path: str, tensors: dict[str, torch.Tensor],
                        metadata: dict[str, str] | None = None) -> None:
    """safetensors bytes written atomically (used for models and training checkpoints)."""
    from safetensors.torch import save as st_save
    write_atomic(path, st_save(tensors, metadata=metadata))


def encode_model(state: dict[str, torch.Tensor], spec: ModelSpec) -> bytes:
    """The bytes of a model file (validated against the architecture first)."""
    from safetensors.torch import save as st_save

    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    expected = _expected_tensors(spec, spec.name or "model")
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != expected:
        raise ModelFileError("the weights do not match the architecture in the spec", spec.name)
    meta = spec.to_metadata()
    # The data region depends only on the tensors, so hash it from a metadata-free encoding.
    plain = st_save(tensors)
    (n,) = struct.unpack("<Q", plain[:8])
    data = plain[8 + n:]
    meta["checksum"] = checksum(data)
    blob = st_save(tensors, metadata=meta)
    (m,) = struct.unpack("<Q", blob[:8])
    assert blob[8 + m:] == data, "safetensors layout changed with metadata"
    ModelSpec.from_metadata(meta, spec.name or "model")  # never write what we could not read
    return blob


def save_model(path: str, state: dict[str, torch.Tensor], spec: ModelSpec) -> None:
    """Write a model file atomically: a crash never leaves half a model at ``path``."""
    if not str(path).lower().endswith(".safetensors"):
        raise ModelFileError("a model file must end in .safetensors", str(path))
    write_atomic(path, encode_model(state, spec))


__all__ = ["FORMAT", "ModelSpec", "ModelInfo", "LoadedModel", "ModelFileError",
           "read_info",
           "load_model", "save_model", "encode_model", "read_container", "pickle_message",
           "save_tensors_atomic"]

"""Reading a diffusers-format folder without loading any weights.

A folder is either a whole pipeline (``model_index.json`` naming one sub-folder per component) or a
single model (``config.json`` + ``diffusion_pytorch_model.safetensors``). :func:`inspect_folder`
checks everything that can be checked from the files alone -- every component present, every class
known to the installed ``diffusers``/``transformers``, weights in ``.safetensors`` (pickled
``.bin``/``.ckpt`` weights are refused: loading them would run arbitrary code) -- and returns a
:class:`FolderInfo` with the family, the scheduler config and per-component sizes, read from the
safetensors headers. Every error is one line naming the folder and the part.
"""
from __future__ import annotations

import importlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import StudioError

#: the denoiser component of each family: (component folder, accepted class names)
FAMILIES = {
    "unet2d": ("unet", ("UNet2DModel",)),
    "dit": ("transformer", ("Transformer2DModel", "DiTTransformer2DModel")),
    "sd": ("unet", ("UNet2DConditionModel",)),
    "sdxl": ("unet", ("UNet2DConditionModel",)),
    "sd3": ("transformer", ("SD3Transformer2DModel",)),
}
#: components each family needs besides the denoiser and the scheduler
NEEDS = {"unet2d": (), "dit": ("vae",), "sd": ("vae", "text_encoder", "tokenizer"),
         "sdxl": ("vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"),
         "sd3": ("vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")}
FAMILY_TITLES = {"unet2d": "pixel-space UNet (DDPM/DDIM)", "dit": "class-conditional latent DiT",
                 "sd": "Stable Diffusion 1.x/2.x (text-to-image)",
                 "sdxl": "Stable Diffusion XL (text-to-image)",
                 "sd3": "Stable Diffusion 3 (flow matching, text-to-image)"}
#: families conditioned on a text prompt
TEXT_FAMILIES = ("sd", "sdxl", "sd3")
#: components never loaded (the studio has no use for them)
SKIPPED = ("safety_checker", "feature_extractor", "image_encoder")
PICKLED = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
WEIGHTS = {"diffusers": "diffusion_pytorch_model.safetensors", "transformers": "model.safetensors"}


def _read_json(path: str, where: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise StudioError(f"cannot read {os.path.basename(path)}: {exc.strerror}", where) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StudioError(f"{os.path.basename(path)} is not valid JSON ({exc})", where) from None
    if not isinstance(data, dict):
        raise StudioError(f"{os.path.basename(path)} must hold a JSON object", where)
    return data


def safetensors_header(path: str) -> dict:
    """The JSON header of a .safetensors file (tensor names -> dtype, shape, offsets)."""
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > 100_000_000:
            raise StudioError("not a safetensors file (header too large)", path)
        return json.loads(fh.read(n))


def lib_version(lib: str) -> str:
    try:
        return importlib.import_module(lib).__version__
    except ImportError:
        return "not installed"


def find_class(lib: str, name: str, where: str):
    """The class ``name`` of ``lib`` (diffusers or transformers), or a one-line error."""
    if lib not in ("diffusers", "transformers"):
        raise StudioError(f"library {lib!r} is not supported (diffusers or transformers only)", where)
    import logging
    quiet = [logging.getLogger(n) for n in ("transformers", "diffusers")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:  # importing a class may log advice about optional packages
        lg.setLevel(logging.ERROR)
    try:
        mod = importlib.import_module(lib)
        cls = getattr(mod, name, None) if isinstance(name, str) else None
    except ImportError:
        raise StudioError(f"needs the {lib!r} package: pip install 'diffusion-studio[diffusers]'",
                          where) from None
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)
    if cls is None:
        raise StudioError(f"names class {name!r}, which the installed {lib} {lib_version(lib)} "
                          f"lacks (a newer {lib} may have it)", where)
    return cls


@dataclass
class Component:
    name: str
    library: str
    class_name: str
    folder: str
    config: dict = field(default_factory=dict)
    parameters: int = 0
    dtype: str = ""
    size_bytes: int = 0
    #: the weights variant when only variant files exist (``diffusion_pytorch_model.fp16...``)
    variant: Optional[str] = None

    @property
    def has_weights(self) -> bool:
        return self.library in WEIGHTS and self.class_name not in ("", None) and not \
            self.class_name.endswith(("Tokenizer", "TokenizerFast", "Scheduler"))


@dataclass
class FolderInfo:
    path: str
    kind: str  # "pipeline" | "model"
    family: str
    pipeline_class: Optional[str]
    components: dict[str, Component]
    scheduler: Optional[dict]
    index: dict = field(default_factory=dict)

    @property
    def denoiser(self) -> Component:
        return self.components[FAMILIES[self.family][0]]

    @property
    def variant(self) -> Optional[str]:
        found = {c.variant for c in self.components.values() if c.variant}
        return found.pop() if len(found) == 1 else None

    @property
    def size_bytes(self) -> int:
        total = 0
        for root, _, files in os.walk(self.path):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except OSError:
                    pass
        return total


def _weights(comp: Component, where: str) -> None:
    """Check that a model component has .safetensors weights; read their sizes from the headers."""
    files = sorted(os.listdir(comp.folder))
    safe = [f for f in files if f.endswith(".safetensors")]
    if not safe:
        pickled = [f for f in files if f.endswith(PICKLED)]
        if pickled:
            raise StudioError(
                f"holds only pickled weights ({pickled[0]}); the studio loads .safetensors only. "
                f"Convert once in a trusted environment: python -c \"import {comp.library}; "
                f"m = {comp.library}.{comp.class_name}.from_pretrained('{comp.folder}'); "
                f"m.save_pretrained('{comp.folder}', safe_serialization=True)\"", where)
        raise StudioError(f"no weights: expected {WEIGHTS[comp.library]} (or sharded "
                          ".safetensors files)", where)
    main = [f for f in safe if f.count(".") == 1]
    if main:
        variants = main  # the main weights; variant files (fp16, ...) are not loaded
    else:
        names = {f.split(".")[-2] for f in safe}
        if len(names) > 1:
            raise StudioError(f"holds several weight variants ({', '.join(sorted(names))}) and "
                              "no main weights: keep one", where)
        comp.variant, variants = names.pop(), safe
    count, dtypes, size = 0, set(), 0
    for f in variants:
        p = os.path.join(comp.folder, f)
        try:
            head = safetensors_header(p)
        except (OSError, ValueError, struct.error) as exc:
            raise StudioError(f"{f} is not a readable safetensors file ({exc})", where) from None
        for k, v in head.items():
            if k == "__metadata__":
                continue
            n = 1
            for d in v.get("shape", []):
                n *= int(d)
            count += n
            dtypes.add(v.get("dtype", "?"))
        size += os.path.getsize(p)
    comp.parameters, comp.dtype, comp.size_bytes = count, "/".join(sorted(dtypes)), size


def _component(folder: str, name: str, entry: Any, where: str) -> Optional[Component]:
    if not (isinstance(entry, list) and len(entry) == 2):
        raise StudioError("model_index.json entry must be [library, class]", f"{where}: {name}")
    lib, cls_name = entry
    if lib is None or cls_name is None:
        return None
    sub = os.path.join(folder, name)
    cw = f"{where}: component {name!r}"
    if not os.path.isdir(sub):
        raise StudioError(f"missing: model_index.json lists it, but there is no folder {sub}", cw)
    find_class(lib, cls_name, cw)
    comp = Component(name, lib, cls_name, sub)
    cfg_name = ("scheduler_config.json" if cls_name.endswith("Scheduler")
                else "config.json" if comp.has_weights else None)
    if cfg_name is not None:
        cfg_path = os.path.join(sub, cfg_name)
        if not os.path.isfile(cfg_path):
            raise StudioError(f"missing {cfg_name}", cw)
        comp.config = _read_json(cfg_path, cw)
        named = comp.config.get("_class_name")
        if lib == "diffusers" and named and named != cls_name:
            find_class(lib, named, f"{cw}: {cfg_name}")
    if comp.has_weights:
        _weights(comp, cw)
    return comp


def _family(components: dict[str, Component], where: str) -> str:
    unet, tr = components.get("unet"), components.get("transformer")
    if unet is not None and unet.class_name == "UNet2DModel":
        return "unet2d"
    if unet is not None and unet.class_name == "UNet2DConditionModel":
        return "sdxl" if "text_encoder_2" in components else "sd"
    if tr is not None and tr.class_name in FAMILIES["dit"][1]:
        return "dit"
    if tr is not None and tr.class_name == "SD3Transformer2DModel":
        return "sd3"
    den = unet or tr
    supported = ", ".join(f"{c[1][0]} ({f})" for f, c in FAMILIES.items())
    raise StudioError(f"unsupported denoiser {den.class_name if den else 'none'!r}; the studio "
                      f"opens: {supported}", where)


def inspect_folder(path: str) -> FolderInfo:
    """Validate a diffusers folder (pipeline or single model) and describe it; loads no weights."""
    folder = os.path.abspath(os.path.expanduser(path))
    where = folder
    if not os.path.isdir(folder):
        raise StudioError("not a folder (expected a diffusers pipeline or model folder)", where)
    try:
        importlib.import_module("diffusers")
    except ImportError:
        raise StudioError("opening diffusers folders needs the optional 'diffusers' package: "
                          "pip install 'diffusion-studio[diffusers]'", where) from None
    index_path = os.path.join(folder, "model_index.json")
    if os.path.isfile(index_path):
        index = _read_json(index_path, where)
        pipe_cls = index.get("_class_name")
        if not isinstance(pipe_cls, str):
            raise StudioError("model_index.json has no _class_name", where)
        try:
            find_class("diffusers", pipe_cls, f"{where}: model_index.json")
        except StudioError:
            raise StudioError(f"unknown pipeline class {pipe_cls!r} (the installed diffusers "
                              f"{lib_version('diffusers')} has no such pipeline)",
                              f"{where}: model_index.json") from None
        comps = {}
        for name, entry in index.items():
            if name.startswith("_") or name in SKIPPED or not isinstance(entry, list):
                continue
            c = _component(folder, name, entry, where)
            if c is not None:
                comps[name] = c
        family = _family(comps, where)
        for need in (FAMILIES[family][0], "scheduler") + NEEDS[family]:
            if need not in comps:
                raise StudioError(f"missing component {need!r}: a {FAMILY_TITLES[family]} "
                                  f"pipeline needs it (model_index.json lists none)", where)
        return FolderInfo(folder, "pipeline", family, pipe_cls, comps,
                          comps["scheduler"].config, index)
    cfg_path = os.path.join(folder, "config.json")
    if not os.path.isfile(cfg_path):
        raise StudioError("not a diffusers folder: neither model_index.json (a pipeline) nor "
                          "config.json (a single model)", where)
    cfg = _read_json(cfg_path, where)
    cls_name = cfg.get("_class_name")
    if not isinstance(cls_name, str):
        raise StudioError("config.json has no _class_name (not a diffusers model)", where)
    find_class("diffusers", cls_name, f"{where}: config.json")
    slot = "transformer" if "Transformer" in cls_name else "unet"
    comp = Component(slot, "diffusers", cls_name, folder, cfg)
    _weights(comp, where)
    family = _family({slot: comp}, where)
    if NEEDS[family]:
        raise StudioError(f"a single {cls_name} folder lacks its {', '.join(NEEDS[family])}: open "
                          "the whole pipeline folder (with model_index.json) instead", where)
    sched = None
    parent = os.path.dirname(folder)
    sp = os.path.join(parent, "scheduler", "scheduler_config.json")
    if os.path.isfile(sp):  # DIR/unet inside a pipeline folder: use its scheduler
        sched = _read_json(sp, f"{parent}: component 'scheduler'")
    return FolderInfo(folder, "model", family, None, {slot: comp}, sched)

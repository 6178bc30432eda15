"""The card of a diffusers folder: what the model browser and ``studio models inspect`` show.

Read from the files alone (configs and safetensors headers; no weights loaded): family, classes,
parameters per component, resolution, prediction type, scheduler, dtype and size on disk.
"""
from __future__ import annotations

from typing import Optional

from .folder import FAMILY_TITLES, TEXT_FAMILIES, FolderInfo, inspect_folder
from .schedmap import map_scheduler, scheduler_notes


def _resolution(info: FolderInfo) -> list[int]:
    den = info.denoiser.config
    s = den.get("sample_size", 0)
    h, w = (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))
    vae = info.components.get("vae")
    f = 2 ** (len(vae.config.get("block_out_channels", [0])) - 1) if vae is not None else 1
    return [h * f, w * f]


def _classes(info: FolderInfo) -> tuple[int, list[str]]:
    den = info.denoiser.config
    if info.family == "dit":
        n = int(den.get("num_embeds_ada_norm") or 0)
    elif info.family == "unet2d":
        n = int(den.get("num_class_embeds") or 0)
    else:
        return 0, []
    id2label = info.index.get("id2label") if info.index else None
    names = ([str(id2label.get(str(k), k)).split(",")[0] for k in range(n)]
             if isinstance(id2label, dict) else [])
    return n, names


def folder_card(info: FolderInfo, parts=None) -> dict:
    """A JSON-able description; ``parts`` (loaded modules) is not needed."""
    pmap = map_scheduler(info.scheduler, info.path)
    n, names = _classes(info)
    comps = {name: {"class": c.class_name, "library": c.library, "parameters": c.parameters,
                    "dtype": c.dtype, "size_bytes": c.size_bytes}
             for name, c in info.components.items()}
    den = info.denoiser
    return {
        "kind": "diffusers", "path": info.path, "folder_kind": info.kind,
        "name": info.path.rstrip("/").split("/")[-1],
        "family": info.family, "family_title": FAMILY_TITLES[info.family],
        "pipeline_class": info.pipeline_class,
        "denoiser_class": den.class_name,
        "latent": "vae" in info.components,
        "num_classes": n, "class_names": names,
        "text_conditioned": info.family in TEXT_FAMILIES,
        "resolution": _resolution(info),
        "parameterization": pmap.parameterization,
        "prediction_type": (info.scheduler or {}).get("prediction_type",
                                                      "flow (velocity)" if pmap.kind ==
                                                      "rectified-flow" else "epsilon"),
        "process": pmap.kind, "process_params": pmap.params,
        "scheduler": scheduler_notes(info.scheduler),
        "dtype": den.dtype,
        "parameters": sum(c.parameters for c in info.components.values()),
        "components": comps,
        "size_bytes": info.size_bytes,
    }


def inspect_card(path: str) -> dict:
    return folder_card(inspect_folder(path))


def print_card(card: dict, out=None) -> None:
    import sys
    out = out or sys.stdout
    gb = lambda b: f"{b / 1e6:.2f} MB"  # noqa: E731
    res = "x".join(map(str, card["resolution"]))
    pp = card["process_params"]
    proc = ", ".join(f"{k} {v}" for k, v in pp.items() if k != "trained_betas")
    if "trained_betas" in pp:
        proc += ", trained_betas [...]"
    rows = [
        ("folder", f"{card['path']} ({card['folder_kind']})"),
        ("family", f"{card['family']}: {card['family_title']}"),
        ("pipeline", card["pipeline_class"] or "(single model)"),
        ("denoiser", card["denoiser_class"]),
        ("resolution", f"{res} ({'latent' if card['latent'] else 'pixel'} space)"),
        ("conditioning", "text prompt" if card["text_conditioned"] else
         f"{card['num_classes']} classes" + (f": {', '.join(card['class_names'][:8])}"
                                              + (" ..." if len(card["class_names"]) > 8 else "")
                                              if card["class_names"] else "")
         if card["num_classes"] else "unconditional"),
        ("predicts", f"{card['prediction_type']} (studio: {card['parameterization']})"),
        ("process", f"{card['process']} ({proc})"),
        ("scheduler", ", ".join(f"{k} {v}" for k, v in card["scheduler"].items())),
        ("dtype", card["dtype"]),
        ("size on disk", gb(card["size_bytes"])),
    ]
    for name, c in card["components"].items():
        if c["parameters"]:
            rows.append((name, f"{c['class']}: {c['parameters']:,} parameters, {c['dtype']}, "
                               f"{gb(c['size_bytes'])}"))
        else:
            rows.append((name, c["class"]))
    for k, v in rows:
        print(f"{k:>16}  {v}", file=out)


def find_folders(root: str, depth: int = 2) -> list[str]:
    """Diffusers folders at ``root`` or up to ``depth`` levels below it (pipelines first;
    a model folder inside a pipeline folder is not listed separately)."""
    import os
    found: list[str] = []

    def walk(p: str, d: int) -> None:
        if os.path.isfile(os.path.join(p, "model_index.json")):
            found.append(p)
            return
        if os.path.isfile(os.path.join(p, "config.json")) and any(
                f.startswith("diffusion_pytorch_model") for f in os.listdir(p)):
            found.append(p)
            return
        if d <= 0:
            return
        try:
            subs = sorted(os.scandir(p), key=lambda e: e.name)
        except OSError:
            return
        for e in subs:
            if e.is_dir() and not e.name.startswith("."):
                walk(e.path, d - 1)

    walk(os.path.abspath(root), depth)
    return found


def card_or_error(path: str) -> tuple[Optional[dict], Optional[str]]:
    from ..errors import StudioError
    try:
        return inspect_card(path), None
    except StudioError as exc:
        return None, str(exc)

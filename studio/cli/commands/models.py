"""`studio models list | inspect FILE | import X.pt`: the model library and model files."""
from __future__ import annotations

import json
import os
import sys

NAME = "models"
HELP = "list the model library, inspect a model file, or import a PyTorch checkpoint"


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="bundled models, the user's library and extra folders")
    ls.add_argument("--dir", action="append", default=[], help="also list this folder")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ins = sub.add_parser("inspect", help="validate a model file and show its metadata")
    ins.add_argument("file", help="model file (.safetensors), assets:NAME.safetensors, or a "
                     "diffusers folder (pipeline or single model)")
    ins.add_argument("--json", action="store_true", help="print JSON")
    ins.add_argument("--preview", metavar="PNG", help="write the preview image here")
    imp = sub.add_parser("import", help="convert a PyTorch checkpoint (.pt/.ckpt) to a model "
                         "file, reading tensors only (torch.load(weights_only=True))")
    imp.add_argument("checkpoint", help=".pt / .pth / .ckpt file")
    imp.add_argument("--meta", required=True, help="JSON with the model's metadata, as printed by "
                     "`studio models inspect --json` (architecture, parameterization, process, "
                     "data, preconditioning, conditioning, name, description)")
    imp.add_argument("--arch", help="architecture id (overrides the metadata's)")
    imp.add_argument("--arch-config", help="architecture config as JSON (overrides)")
    imp.add_argument("--key", help="entry of the checkpoint that holds the state dict")
    imp.add_argument("--strip-prefix", default="", help="remove this prefix from tensor names")
    imp.add_argument("--out", required=True, help="model file to write (.safetensors)")
    imp.add_argument("--mkdir", action="store_true", help="create the folder of --out if missing")


def _line(card: dict) -> str:
    shape = "x".join(map(str, card["data"]["shape"]))
    cond = card["conditioning"]["num_classes"]
    return (f"{card.get('name') or '(unnamed)'} - {card['architecture']['id']}, "
            f"{card['parameterization']} / {card['process']['kind']}, data {shape}"
            + (f", {cond} classes" if cond else "") + f", {card['parameters']:,} parameters")


def _print_card(card: dict) -> None:
    tr = card.get("training") or {}
    d = card["data"]
    c = card["conditioning"]
    pre = card["preconditioning"]
    rows = [
        ("file", card["path"]),
        ("name", card.get("name") or "(unnamed)"),
        ("description", card.get("description") or ""),
        ("architecture", f"{card['architecture']['id']} {json.dumps(card['architecture']['config'])}"),
        ("parameters", f"{card['parameters']:,} ({card['size_bytes'] / 1e6:.2f} MB)"),
        ("predicts", "class logits (a noise-conditional classifier, for classifier guidance)"
         if card["parameterization"] == "logits" else
         f"a flow map x_t -> x_s (time pair {card['flow_map']['time_pair']}, "
         f"{card['flow_map']['velocity_parameterization']} parameterization)"
         if card["parameterization"] == "flow-map" else card["parameterization"]),
        ("process", f"{card['process']['kind']} {json.dumps(card['process']['params'])}"),
        ("data", f"{d['kind']} {d['shape']}" + (f", range {d['range']}" if d["range"] else "")),
        ("normalisation", f"data = model x {d['normalisation']['scale']} + "
                          f"{d['normalisation']['shift']}"),
        ("preconditioning", f"{pre['kind']}, sigma_data {pre['sigma_data']:.4g}, time input "
                            f"{pre['time_input']}"),
        ("classes" if card["parameterization"] == "logits" else "conditioning",
         f"{c['num_classes']}: {', '.join(c.get('class_names') or [])}"
         if card["parameterization"] == "logits" else
         (f"{c['num_classes']} classes (null class {c['null_class']}, class "
                          f"dropout {c['class_dropout']})" + (f": {', '.join(c['class_names'])}"
                                                             if c.get("class_names") else ""))
         if c["num_classes"] else "unconditional"),
        ("training", ", ".join(f"{k} {v}" for k, v in tr.items() if k != "dataset")
         + (f"; data {tr['dataset'].get('kind')}" if isinstance(tr.get("dataset"), dict) else "")),
        ("preview", f"{card['preview_png_bytes']} bytes PNG" if card["preview_png_bytes"] else "none"),
    ]
    for k, v in rows:
        print(f"{k:>16}  {v}")


def run(args) -> int:
    if args.action == "list":
        from ...core.library import model_cards
        cards = model_cards(args.dir)   # from the listing cache where nothing changed: no torch
        if args.json:
            print(json.dumps(cards, indent=2))
            return 0
        folders = []
        if any(os.path.isdir(d) for d in args.dir or []):
            from ...core.hf.cards import card_or_error, find_folders
            folders = [f for d in args.dir if os.path.isdir(d) for f in find_folders(d)]
        if not cards and not folders:
            print("no models found")
        for f in folders:  # diffusers folders under --dir
            card, err = card_or_error(f)
            print(f"[diffusers] {f}: " + (f"UNUSABLE: {err}" if err else
                  f"{card['family']} ({card['denoiser_class']}), "
                  f"{'x'.join(map(str, card['resolution']))}, {card['parameterization']} / "
                  f"{card['process']}, {card['parameters']:,} parameters"))
        for c in cards:
            if "error" in c:
                print(f"[{c['source']}] {c['path']}: UNUSABLE: {c['error']}")
            else:
                print(f"[{c['source']}] {c['reference']}: {_line(c)}")
        return 0
    from ...core.errors import StudioError
    from ...core.library import resolve_model_path
    from ...core.modelfile import read_info
    from ...core.modelimport import import_checkpoint

    if args.action == "inspect" and os.path.isdir(args.file):
        from ...core.hf.cards import inspect_card, print_card
        card = inspect_card(args.file)
        if args.json:
            print(json.dumps(card, indent=2))
        else:
            print_card(card)
        return 0
    if args.action == "inspect":
        path = resolve_model_path(args.file, None, "file")
        info = read_info(path)
        card = info.card()
        if args.preview:
            if not info.spec.preview_png:
                raise StudioError("this model has no preview image", path)
            from ...core.atomic import check_output, write_atomic
            check_output(args.preview, "--preview")
            write_atomic(args.preview, info.spec.preview_png)
        if args.json:
            print(json.dumps(card, indent=2))
        else:
            _print_card(card)
        return 0
    # import
    from ...core.atomic import check_output
    from ...core.untrusted import loads_json, read_regular
    meta = loads_json(read_regular(args.meta, args.meta), args.meta)
    if not isinstance(meta, dict):
        raise StudioError("metadata must be a JSON object", args.meta)
    arch = dict(meta.get("architecture") or {})
    if args.arch:
        arch["id"] = args.arch
    if args.arch_config:
        arch["config"] = loads_json(args.arch_config, "--arch-config")
    arch.setdefault("config", {})
    meta["architecture"] = arch
    check_output(args.out, "--out", mkdir=getattr(args, "mkdir", False))
    spec = import_checkpoint(args.checkpoint, meta, args.out, args.key, args.strip_prefix)
    print(f"wrote {args.out}: {spec.name or 'model'} ({spec.architecture})", file=sys.stderr)
    return 0

"""Starting points for the training panel: tried configurations (``studio.train/1``) that train
in about a minute on two CPU cores (the digits U-Net in a few), with live previews."""
from __future__ import annotations

import copy

_MLP = {"id": "mlp", "params": {"width": 96, "depth": 3, "emb_dim": 64}}
_OPTIM_2D = {"steps": 2000, "batch": 256, "lr": 0.002, "warmup": 100, "ema": 0.995}
_PREVIEW_2D = {"every": 250, "count": 1000, "steps": 20}

PRESETS: dict[str, dict] = {
    "Two moons · MLP, eps on VP": {
        "name": "Two moons", "seed": 0,
        "data": {"kind": "moons", "params": {"n": 20000}, "conditional": False},
        "architecture": _MLP, "process": {"kind": "vp-linear", "params": {}},
        "objective": {"target": "eps", "precond": "edm"},
        "optim": _OPTIM_2D, "preview": _PREVIEW_2D, "log_every": 20},
    "Swiss roll · MLP, x0 on EDM": {
        "name": "Swiss roll", "seed": 0,
        "data": {"kind": "swiss-roll", "params": {"n": 20000}, "conditional": False},
        "architecture": _MLP, "process": {"kind": "edm", "params": {}},
        "objective": {"target": "x0", "precond": "edm", "p_mean": -1.0, "p_std": 1.4},
        "optim": _OPTIM_2D, "preview": _PREVIEW_2D, "log_every": 20},
    "Checkerboard · MLP, flow matching": {
        "name": "Checkerboard", "seed": 0,
        "data": {"kind": "checkerboard", "params": {"n": 20000}, "conditional": False},
        "architecture": {"id": "mlp", "params": {"width": 128, "depth": 4, "emb_dim": 64}},
        "process": {"kind": "rectified-flow", "params": {}},
        "objective": {"target": "velocity"},
        "optim": dict(_OPTIM_2D, steps=3000), "preview": _PREVIEW_2D, "log_every": 20},
    "Two moons · few-step flow map (flow-map matching)": {
        "name": "Two moons, flow map", "seed": 0,
        "description": "A flow map (x_t, t, s) -> x_s for sampling in 1-4 jumps (flow-map solver). "
                       "Other objectives: consistency-training, ctm, shortcut, meanflow; "
                       "consistency-distillation with a teacher pipeline.",
        "data": {"kind": "moons", "params": {"n": 20000}, "conditional": False},
        "architecture": {"id": "mlp", "params": {"width": 128, "depth": 3, "emb_dim": 64,
                                                 "flow_map": True}},
        "process": {"kind": "rectified-flow", "params": {}},
        "objective": {"target": "flow-map-matching", "t_sampling": "uniform"},
        "optim": dict(_OPTIM_2D, steps=3000),
        "preview": {"every": 250, "count": 1000, "steps": 2, "solver": "flow-map"},
        "log_every": 20},
    "Pinwheel · class-conditional MLP, v on VP-cosine": {
        "name": "Pinwheel", "seed": 0,
        "data": {"kind": "pinwheel", "params": {"n": 20000}, "conditional": True},
        "architecture": _MLP, "process": {"kind": "vp-cosine", "params": {}},
        "objective": {"target": "v", "precond": "edm"},
        "optim": dict(_OPTIM_2D, class_dropout=0.15), "preview": _PREVIEW_2D, "log_every": 20},
    "Digits 8×8 · class-conditional U-Net, v": {
        "name": "Digits", "seed": 0,
        "data": {"kind": "digits", "params": {}, "conditional": True},
        "architecture": {"id": "unet", "params": {"channels": 32, "mults": [1, 2], "blocks": 1,
                                                  "attn_res": 4}},
        "process": {"kind": "vp-cosine", "params": {}},
        "objective": {"target": "v", "precond": "edm"},
        "optim": {"steps": 1500, "batch": 96, "lr": 0.002, "warmup": 100, "ema": 0.998,
                  "class_dropout": 0.1},
        "preview": {"every": 150, "count": 100, "steps": 20}, "log_every": 10},
    "Digits 8×8 · noise-conditional classifier (classifier guidance)": {
        "name": "Digits classifier", "seed": 0,
        "description": "p(digit | x_t) for classifier guidance of a digits model (VP-cosine).",
        "data": {"kind": "digits", "params": {}, "conditional": True},
        "architecture": {"id": "classifier", "params": {"channels": 32, "mults": [1, 2],
                                                        "blocks": 2}},
        "process": {"kind": "vp-cosine", "params": {}},
        "objective": {"target": "classifier"},
        "optim": {"steps": 1500, "batch": 128, "lr": 0.002, "warmup": 100, "ema": 0.998,
                  "weight_decay": 0.01},
        "preview": {"every": 0}, "log_every": 10},
    "Digits 8×8 · few-step flow map (CTM from the bundled digits)": {
        "name": "Digits, few-step flow map", "seed": 0,
        "description": "A class-conditional flow map distilled from assets:digits.safetensors by "
                       "CTM, started from its weights (the bundled digits-flow-map's recipe); "
                       "sample in 1-4 jumps with the flow-map solver.",
        "data": {"kind": "digits", "params": {}, "conditional": True},
        "architecture": {"id": "unet", "params": {"channels": 32, "mults": [1, 2], "blocks": 1,
                                                  "attn_res": 4, "emb_dim": 128, "groups": 8,
                                                  "flow_map": True}},
        "process": {"kind": "vp-cosine", "params": {}},
        "objective": {"target": "ctm", "precond": "edm", "flow_parameterization": "v",
                      "teacher": "assets:digits.safetensors", "init_from_teacher": True},
        "optim": {"steps": 1500, "batch": 96, "lr": 0.0005, "warmup": 20, "min_lr": 0.2,
                  "ema": 0.99, "class_dropout": 0.1},
        "preview": {"every": 150, "count": 100, "steps": 2, "solver": "flow-map"},
        "log_every": 10},
    "Image folder · U-Net 32×32, v": {
        "name": "My images", "seed": 0,
        "data": {"kind": "image-folder", "params": {"path": "", "size": 32, "channels": 3},
                 "conditional": False},
        "architecture": {"id": "unet", "params": {"channels": 32, "mults": [1, 2, 2], "blocks": 1,
                                                  "attn_res": 8}},
        "process": {"kind": "vp-cosine", "params": {}},
        "objective": {"target": "v", "precond": "edm"},
        "optim": {"steps": 4000, "batch": 32, "lr": 0.001, "warmup": 200, "ema": 0.999},
        "preview": {"every": 250, "count": 36, "steps": 20}, "log_every": 10},
}

DEFAULT_PRESET = "Two moons · MLP, eps on VP"


def preset(name: str) -> dict:
    """A copy of a preset's configuration (``format`` added)."""
    return dict(copy.deepcopy(PRESETS[name]), format="studio.train/1")

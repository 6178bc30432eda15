"""Training configurations (format ``studio.train/1``): JSON in, validated dataclasses out.

    {
      "format": "studio.train/1",
      "name": "Two moons", "description": "...", "seed": 0,
      "data": {"kind": "moons", "params": {"n": 20000}, "conditional": false},
      "architecture": {"id": "mlp", "params": {"width": 128, "depth": 3}},
      "process": {"kind": "vp-linear", "params": {}},
      "objective": {"target": "eps", "weighting": "auto", "precond": "none", "t_sampling": "auto"},
      "optim": {"steps": 3000, "batch": 512, "lr": 0.001, "warmup": 100, "ema": 0.999},
      "preview": {"every": 500, "count": 256, "steps": 20, "solver": "dpm-solver++-2m"},
      "log_every": 50
    }

Every section but ``data``, ``architecture`` and ``process`` may be left out (defaults below);
errors name the file and the field.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import StudioError
from ..nn.denoising import PRECONDS, TIME_INPUTS
from ..nn.flowmap import FLOW_KINDS
from ..nn.registry import ARCHITECTURES
from ..params import build, param, to_params
from ..registry import PROCESSES
from .data import DATASETS

FORMAT = "studio.train/1"
#: flow-map objectives (studio.core.training.flowmap_objectives): they train a flow map
FLOW_TARGETS = ("consistency-training", "consistency-distillation", "ctm", "shortcut",
                "meanflow", "flow-map-matching")
TARGETS = ("eps", "x0", "v", "velocity", "classifier") + FLOW_TARGETS
WEIGHTINGS = ("auto", "none", "min-snr", "edm")
T_SAMPLINGS = ("auto", "uniform", "lognormal", "logit-normal")


class ConfigError(StudioError):
    """A training configuration that cannot be used."""


@dataclass
class ObjectiveConfig:
    target: str = param("eps", "what the network learns to predict: eps, x0 or v (denoising score "
                        "matching), velocity (flow matching), classifier (the class of x_t: "
                        "a noise-conditional classifier for classifier guidance), or a flow map "
                        "(x_t, t, s) -> x_s: consistency-training, consistency-distillation, ctm, "
                        "shortcut, meanflow, flow-map-matching", choices=TARGETS)
    weighting: str = param("auto", "loss weighting: none, min-snr (Hang et al. 2023), edm "
                           "(unit weight on the preconditioned output); auto: edm with EDM "
                           "preconditioning, min-snr for x0, else none", choices=WEIGHTINGS)
    min_snr_gamma: float = param(5.0, "gamma of min-SNR weighting", min=0.0)
    precond: str = param("none", "EDM-style preconditioning (c_skip, c_out, c_in, c_noise), "
                         "generalised to every target", choices=PRECONDS)
    t_sampling: str = param("auto", "training times: uniform in t, lognormal in sigma/alpha (EDM), "
                            "logit-normal in t (SD3); auto: lognormal for EDM/VE processes, else "
                            "uniform", choices=T_SAMPLINGS)
    p_mean: float = param(-1.2, "lognormal: mean of log(sigma/alpha)")
    p_std: float = param(1.2, "lognormal: std of log(sigma/alpha)", min=0.0)
    sigma_data: Optional[float] = param(None, "data standard deviation in model units (null: "
                                        "measured)", min=0.0)
    time_input: str = param("auto", "network time input: t (normalised), log-sigma; auto: "
                            "log-sigma for EDM/VE processes", choices=("auto",) + TIME_INPUTS)
    # -- flow-map objectives -----------------------------------------------------------------
    flow_parameterization: str = param("velocity", "flow maps: what the network predicts at "
                                       "(x_t, t, s): velocity (Phi = x + (s - t) U) or x0, eps, "
                                       "v (a DDIM jump); shortcut, meanflow and flow-map-"
                                       "matching need velocity", choices=FLOW_KINDS)
    teacher: Optional[str] = param(None, "flow maps: a teacher pipeline file (network, process, "
                                   "ODE solver) or model file (assets:NAME.safetensors too), "
                                   "relative to this config; needed by consistency-distillation, "
                                   "optional for the others", ui="path")
    init_from_teacher: bool = param(False, "flow maps: start the student from the teacher's "
                                    "weights (a trained teacher with the same architecture and "
                                    "parameterization; the second time embedding starts at zero, "
                                    "so step 0 is the teacher's DDIM jump)")
    teacher_steps: int = param(2, "flow maps: steps of the teacher's solver per solve", min=1,
                               max=1000)
    cm_steps: int = param(0, "consistency models: grid points (distillation; 0: 18) or the "
                          "final grid of the training curriculum (0: 1280)", min=0)
    jump_fraction: float = param(0.25, "meanflow: fraction of pairs with s < t; shortcut: "
                                 "fraction of the batch on self-consistency", min=0.0, max=1.0)
    shortcut_levels: int = param(7, "shortcut: step sizes (t_max - t_min) / 2^j, j < this",
                                 min=1, max=16)
    dsm_weight: float = param(1.0, "ctm: weight of the denoising term; flow-map-matching: weight "
                              "of the tangent (flow matching) term", min=0.0)
    meanflow_p: float = param(1.0, "meanflow: power p of the adaptive loss weight "
                              "1 / (|err|^2 + 1e-3)^p (0: plain squared error)", min=0.0)
    groups: int = param(8, "ctm: time triples per batch (one teacher solve each)", min=1)



@dataclass
class OptimConfig:
    steps: int = param(3000, "optimisation steps", min=1, max=100_000_000)
    batch: int = param(256, "batch size", min=1, max=1_000_000)
    lr: float = param(1e-3, "peak learning rate (AdamW)", min=0.0, max=10.0)
    weight_decay: float = param(0.0, "AdamW weight decay", min=0.0)
    beta1: float = param(0.9, "AdamW beta1", min=0.0, max=1.0)
    beta2: float = param(0.999, "AdamW beta2", min=0.0, max=1.0)
    warmup: int = param(100, "linear warm-up steps", min=0)
    min_lr: float = param(0.05, "final learning rate after cosine decay, as a fraction of lr",
                          min=0.0, max=1.0)
    ema: float = param(0.999, "EMA decay of the weights (0: no EMA)", min=0.0, max=1.0)
    grad_clip: float = param(1.0, "clip the gradient norm to this (0: off)", min=0.0)
    class_dropout: float = param(0.1, "probability of dropping the label (classifier-free "
                                 "guidance); conditional models only", min=0.0, max=1.0)


@dataclass
class PreviewConfig:
    every: int = param(500, "sample previews every N steps (0: never)", min=0)
    count: int = param(256, "samples per preview", min=1, max=100_000)
    steps: int = param(20, "solver steps per preview", min=1, max=1000)
    solver: str = param("dpm-solver++-2m", "solver for previews")


@dataclass
class TrainConfig:
    data: dict
    architecture: dict
    process: dict
    name: str = ""
    description: str = ""
    seed: int = 0
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)
    log_every: int = 50
    checkpoint_every: int = 0
    base_dir: str = ""
    source: str = ""

    # -- built plugins -------------------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        return bool(self.data.get("conditional", False))

    def build_dataset(self):
        cls = DATASETS.get(self.data["kind"], f"{self.source or 'config'}: data.kind")
        extra = {"_base_dir": self.base_dir} if "_base_dir" in cls.__dataclass_fields__ else {}
        return build(cls, self.data.get("params", {}), f"{self.source or 'config'}: data.params",
                     extra)

    def build_architecture(self):
        return build(ARCHITECTURES.get(self.architecture["id"],
                                       f"{self.source or 'config'}: architecture.id"),
                     self.architecture.get("params", {}),
                     f"{self.source or 'config'}: architecture.params")

    def build_process(self):
        return build(PROCESSES.get(self.process["kind"], f"{self.source or 'config'}: process.kind"),
                     self.process.get("params", {}), f"{self.source or 'config'}: process.params")

    # -- JSON ----------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, base_dir: str = "", source: str = "") -> "TrainConfig":
        where = source or "config"
        if not isinstance(d, dict):
            raise ConfigError("a training configuration must be a JSON object", where)
        if d.get("format", FORMAT) != FORMAT:
            raise ConfigError(f"format must be {FORMAT!r}, got {d.get('format')!r}", f"{where}: format")
        known = {"format", "name", "description", "seed", "data", "architecture", "process",
                 "objective", "optim", "preview", "log_every", "checkpoint_every"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}; valid: {', '.join(sorted(known))}", where)
        refs = {}
        for key, id_key, extra_keys in (("data", "kind", {"conditional"}),
                                        ("architecture", "id", set()), ("process", "kind", set())):
            sec = d.get(key)
            if not isinstance(sec, dict) or not isinstance(sec.get(id_key), str):
                raise ConfigError(f"'{key}' must be an object with a {id_key!r} string and "
                                  "'params'", f"{where}: {key}")
            bad = sorted(set(sec) - {id_key, "params"} - extra_keys)
            if bad:
                raise ConfigError(f"unknown key {bad[0]!r}", f"{where}: {key}")
            if not isinstance(sec.get("params", {}), dict):
                raise ConfigError("'params' must be an object", f"{where}: {key}.params")
            refs[key] = copy.deepcopy(sec)
        if not isinstance(refs["data"].get("conditional", False), bool):
            raise ConfigError("must be true or false", f"{where}: data.conditional")
        sections = {}
        for key, sec_cls in (("objective", ObjectiveConfig), ("optim", OptimConfig),
                             ("preview", PreviewConfig)):
            raw = d.get(key, {})
            if not isinstance(raw, dict):
                raise ConfigError("must be an object", f"{where}: {key}")
            sections[key] = build(sec_cls, raw, f"{where}: {key}")
        scalars = {}
        for key, tp, default in (("name", str, ""), ("description", str, ""), ("seed", int, 0),
                                 ("log_every", int, 50), ("checkpoint_every", int, 0)):
            v = d.get(key, default)
            if not isinstance(v, tp) or isinstance(v, bool) or (tp is int and not 0 <= v < 2 ** 63):
                what = "a non-negative 64-bit integer" if tp is int else "a string"
                raise ConfigError(f"expected {what}, got {v!r}", f"{where}: {key}")
            scalars[key] = v
        cfg = cls(data=refs["data"], architecture=refs["architecture"], process=refs["process"],
                  base_dir=base_dir, source=source, **sections, **scalars)
        # validate the plugins now so that errors come before any training
        cfg.build_architecture()
        cfg.build_process()
        cfg.build_dataset()
        from ..registry import SOLVERS
        SOLVERS.get(cfg.preview.solver, f"{where}: preview.solver")
        return cfg

    @classmethod
    def load(cls, path: str) -> "TrainConfig":
        from ..untrusted import loads_json, read_regular
        data = loads_json(read_regular(path, path, ConfigError), path, ConfigError)
        return cls.from_dict(data, os.path.dirname(os.path.abspath(path)), path)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "name": self.name, "description": self.description,
                "seed": self.seed, "data": copy.deepcopy(self.data),
                "architecture": copy.deepcopy(self.architecture),
                "process": copy.deepcopy(self.process),
                "objective": to_params(self.objective), "optim": to_params(self.optim),
                "preview": to_params(self.preview), "log_every": self.log_every,
                "checkpoint_every": self.checkpoint_every}

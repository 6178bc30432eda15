"""A diffusers scheduler config -> the studio process it describes, and the network's time input.

Every DDPM-type scheduler (DDPM, DDIM, PNDM, DPM-Solver, Euler, UniPC, ...) stores the same beta
table, so any of them maps onto ``ddpm-discrete`` (``linear``, ``scaled_linear``,
``squaredcos_cap_v2`` or ``trained_betas``; N = ``num_train_timesteps``): the network is called at
the timestep k = t (N - 1). ``prediction_type`` epsilon / v_prediction / sample becomes the
parameterization eps / v / x0.

Flow-matching schedulers (``FlowMatchEulerDiscreteScheduler``: SD3) map onto ``rectified-flow``,
x_t = (1 - t) x0 + t eps, with the config's ``shift``; the network predicts the velocity
eps - x0 (the studio's ``velocity``) and is called at t N (diffusers' ``timesteps = sigmas N``).

Only the process is taken from the scheduler: the sampler itself is the studio's (any solver, any
schedule). What the scheduler does besides -- the spacing of its timesteps, ``clip_sample``,
thresholding -- is reported in :func:`scheduler_notes`, not imitated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import StudioError

PREDICTION = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
#: what a folder without a scheduler (a lone model folder) is assumed to use: DDPM's table
DEFAULT_DDPM = {"_class_name": "DDPMScheduler", "beta_schedule": "linear", "beta_start": 0.0001,
                "beta_end": 0.02, "num_train_timesteps": 1000, "prediction_type": "epsilon"}


@dataclass(frozen=True)
class ProcessMap:
    """The process node a folder's scheduler stands for."""

    kind: str  # studio process id
    params: dict
    parameterization: str
    #: network time input = t * time_scale
    time_scale: float
    scheduler_class: str

    def node(self) -> dict:
        return {"type": "process", "kind": self.kind, "params": dict(self.params)}

    def build(self):
        from ..params import build
        from ..registry import PROCESSES
        return build(PROCESSES.get(self.kind), self.params, f"process {self.kind}")


def map_scheduler(config: Optional[dict], where: str) -> ProcessMap:
    """The process of a scheduler config (None: DDPM's defaults)."""
    cfg = dict(DEFAULT_DDPM if config is None else config)
    cls = str(cfg.get("_class_name", "?"))
    w = f"{where}: scheduler ({cls})"
    n = cfg.get("num_train_timesteps", 1000)
    if not isinstance(n, int) or n < 2:
        raise StudioError(f"num_train_timesteps must be an integer >= 2, got {n!r}", w)
    if cls.startswith("FlowMatch") or "shift" in cfg and "beta_schedule" not in cfg:
        if cfg.get("use_dynamic_shifting"):
            raise StudioError("resolution-dependent (dynamic) shifting is not supported; only a "
                              "fixed shift (SD3)", w)
        shift = float(cfg.get("shift", 1.0))
        return ProcessMap("rectified-flow", {"shift": shift}, "velocity", float(n), cls)
    pred = cfg.get("prediction_type", "epsilon")
    if pred not in PREDICTION:
        raise StudioError(f"prediction_type {pred!r} is not supported; valid: "
                          f"{', '.join(PREDICTION)}", w)
    if cfg.get("rescale_betas_zero_snr"):
        raise StudioError("rescale_betas_zero_snr (zero terminal SNR) is not supported", w)
    params = {"num_train_timesteps": n}
    trained = cfg.get("trained_betas")
    if trained is not None:
        if not (isinstance(trained, list) and len(trained) == n):
            raise StudioError(f"trained_betas must be a list of {n} numbers", w)
        params["trained_betas"] = [float(b) for b in trained]
    else:
        kind = cfg.get("beta_schedule", "linear")
        if kind not in BETA_SCHEDULES:
            raise StudioError(f"beta_schedule {kind!r} is not supported; valid: "
                              f"{', '.join(BETA_SCHEDULES)} or trained_betas", w)
        params.update(beta_schedule=kind, beta_start=float(cfg.get("beta_start", 0.0001)),
                      beta_end=float(cfg.get("beta_end", 0.02)))
    return ProcessMap("ddpm-discrete", params, PREDICTION[pred], float(n - 1), cls)


def scheduler_notes(config: Optional[dict]) -> dict:
    """What the scheduler config says beyond the process (shown on cards; not imitated)."""
    if config is None:
        return {"class": "none (DDPM defaults assumed)"}
    out = {"class": config.get("_class_name", "?")}
    for key in ("timestep_spacing", "steps_offset", "clip_sample", "thresholding", "shift",
                "set_alpha_to_one", "solver_order", "algorithm_type"):
        if key in config:
            out[key] = config[key]
    return out

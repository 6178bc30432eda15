"""The run settings (batch, seed, device, precision, labels) declared as parameters, like a solver's:
one place for their meaning and limits, which every form that edits them (run toolbar, inspector,
comparison, inverse problems, training) takes its ranges and tooltips from, and one validation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.params import ParamSpec, check_value, param, param_specs

#: the seed range every form accepts: torch's generators take 63-bit non-negative seeds (the forms
#: use :class:`studio.app.seedbox.SeedBox`; a QSpinBox would clip them to 31 bits)
MIN_SEED, MAX_SEED = 0, 2 ** 63 - 1


@dataclass
class RunParams:
    """The settings of a run, shared by every node of a pipeline (``run`` in its JSON)."""

    batch: int = param(500, "number of samples (particles) per run", min=1, max=10_000_000)
    seed: int = param(0, "seed of the prior noise: the same seed gives the same samples",
                      min=MIN_SEED, max=MAX_SEED)
    device: str = param("cpu", "where the run computes: cpu, cuda:N or mps", ui="device")
    dtype: str = param("float64", "precision of the run (bfloat16 / float16: the network computes "
                                  "in half precision, the solver state stays float32)",
                       choices=("float64", "float32", "bfloat16", "float16"))
    labels: Any = param(None, "class labels for a class-conditional network: one class id, or a "
                              "list of one per sample (empty: unconditional)")


RUN_SPECS: dict[str, ParamSpec] = {s.name: s for s in param_specs(RunParams)}


def check_run(name: str, value, where: str = "run"):
    """``value`` for run setting ``name`` if valid, else StudioError naming ``where.name``."""
    return check_value(RUN_SPECS[name], value, f"{where}.{name}")


def limit(spin, name: str, cap: int | None = None, doc: str | None = None) -> None:
    """Give an integer spin box run setting ``name``'s range (a form may cap the maximum lower,
    e.g. for memory) and its meaning as tooltip."""
    spec = RUN_SPECS[name]
    hi = int(min(spec.max, cap)) if cap is not None else int(spec.max)
    spin.setRange(int(spec.min), hi)
    spin.setToolTip(doc or spec.doc[:1].upper() + spec.doc[1:])


@dataclass
class StartParams:
    """Where runs start (``run.start`` in the pipeline JSON; :mod:`studio.core.start`). The app
    edits the prior (no ``run.start``) and teleportation; a data start (SDEdit) comes from a file
    or the Edit workspace and is kept until another start is chosen here."""

    start: str = param("prior", "where runs start: the prior at the solver's first time, or "
                                "teleport: jump the early, nearly Gaussian stretch of the "
                                "trajectory with the closed-form Gaussian PF-ODE of the data's "
                                "moments (Wang & Vastola), at no network evaluation",
                       choices=("prior", "teleport"))
    t: float = param(0.5, "teleport: the time the jump lands at; the solver runs from there on "
                          "its remaining grid points", min=0.0)
    probe: int = param(2048, "teleport on a trained model: probe points that measure its data's "
                             "mean and covariance", min=1, max=10_000_000)


START_SPECS: dict[str, ParamSpec] = {s.name: s for s in param_specs(StartParams)}


def start_values(start) -> dict:
    """The form values of a ``run.start`` value (teleport: its t and probe; otherwise none)."""
    if isinstance(start, dict) and start.get("kind") == "teleport":
        out = {"start": "teleport", "t": start.get("t")}
        if "probe" in start:
            out["probe"] = start["probe"]
        return out
    return {}


def start_of(values: dict):
    """The ``run.start`` value of the form values (None: from the prior)."""
    if values.get("start", START_SPECS["start"].default) != "teleport":
        return None
    out = {"kind": "teleport", "t": float(values.get("t", START_SPECS["t"].default))}
    if "probe" in values:
        out["probe"] = int(values["probe"])
    return out

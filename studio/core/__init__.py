"""The engine: forward processes, networks, guidance, schedules, solvers, the runner, pipelines.

Torch and numpy only; never Qt (a test enforces it).

The names below are imported on first use (PEP 562), so that importing a light module such as
``studio.core.errors`` does not import torch: ``studio --help`` stays instant.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "errors": ("Cancelled", "NonFiniteError", "ParamError", "PipelineError", "StudioError"),
    "model": ("Denoiser", "Prediction"),
    "pipeline": ("Built", "Pipeline", "build_solver", "load"),
    "registry": ("GUIDANCE", "NETWORKS", "PROCESSES", "SCHEDULES", "SOLVERS"),
    "runner": ("CancelToken", "RunResult", "SamplingRun", "StepEvent"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}

__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str):
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

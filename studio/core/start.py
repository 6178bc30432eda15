"""Where a run starts: ``run.start`` in a pipeline file (minimal hook; see below).

Without ``run.start`` a run starts from the prior at the solver's first time. With it, a registered
start kind (``"kind"``) prepares the state at a time t and the solver's grid is cut there: t, then
the grid points below it. A kind is a class with ``parse(raw, where)`` (a classmethod returning an
instance; errors name ``where``) and ``prepare(built, z, ts) -> (x_start, ts)`` (``built`` the
:class:`studio.core.pipeline.Built`, ``z`` the run's standard-normal noise [batch, *data_shape],
``ts`` the solver's full time grid), registered with :func:`register_start`.

Kinds: ``teleport`` (:mod:`studio.core.teleport`). This module is the minimal version written with
the teleport start; the data/SDEdit start (``{"t": ..., "x": ...}``) is developed beside it with the
same interface, and merging keeps both kinds.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import torch
from torch import Tensor

from .errors import PipelineError

#: start kind -> class
START_KINDS: dict[str, type] = {}
#: modules that register start kinds (imported on first use)
_KIND_MODULES = ("studio.core.teleport",)


def register_start(kind: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        START_KINDS[kind] = cls
        cls.kind = kind
        return cls
    return deco


def _load_kinds() -> None:
    for mod in _KIND_MODULES:
        importlib.import_module(mod)


def parse_start(raw: Any, where: str = "run.start"):
    """The start object of a ``run.start`` value (None: start from the prior)."""
    if raw is None:
        return None
    _load_kinds()
    if not isinstance(raw, dict):
        raise PipelineError('start must be an object such as {"kind": "teleport", "t": 20.0}',
                            where)
    kind = raw.get("kind")
    if kind not in START_KINDS:
        raise PipelineError(f"unknown start kind {kind!r}; valid: {', '.join(sorted(START_KINDS))}",
                            f"{where}.kind")
    return START_KINDS[kind].parse(raw, where)


def cut_grid(ts: Tensor, t: float, where: str) -> Tensor:
    """The grid from time t on: t, then the grid points below it."""
    rest = ts[ts < t - 1e-12 * max(1.0, abs(t))]
    if len(rest) < 1:
        raise PipelineError(f"start time {t:g} is at or below the solver's last time "
                            f"{float(ts[-1]):g}: nothing to run", f"{where}.t")
    return torch.cat([torch.tensor([t], dtype=ts.dtype, device=ts.device), rest])


__all__ = ["START_KINDS", "register_start", "parse_start", "cut_grid"]

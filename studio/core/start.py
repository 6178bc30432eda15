"""Where a run starts: ``run.start`` in a pipeline file.

Without ``run.start`` a run starts from the prior at the solver's first time. With it, the run
starts from a given state at a given time and the solver's grid is cut there: the remaining grid
points below t, after t itself. Kinds (``"kind"``, default ``"data"``):

- ``data``: ``{"t": T, "x": "x.npy", "noise": true}`` (contract: ``{"t": ..., "x": "x.npy"}``).
  ``x`` is a ``.npy`` path (relative to the pipeline) or a nested list, one item [*data_shape]
  (broadcast to the batch) or [batch, *data_shape]. With ``noise`` true (the default) x is data, in
  the data's own units, and is forward-noised to time T: x_T = alpha_T x + sigma_T z, z the run's
  seeded prior noise: SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with
  Stochastic Differential Equations"). With ``noise`` false x is taken as the state x_T itself, in
  the network's space (e.g. a state from ``studio invert`` at an intermediate time).

``teleport`` (:mod:`studio.core.teleport`): ``{"kind": "teleport", "t": T}``.

Other kinds register with :func:`register_start`: a class with ``parse(raw, where)`` (a
classmethod returning an instance; errors name ``where``) and ``prepare(built, z, ts) ->
(x_start, ts)`` (``built`` the :class:`studio.core.pipeline.Built`, ``z`` the run's standard-normal
noise [batch, *data_shape], ``ts`` the solver's full time grid).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from .arrays import load_array
from .errors import PipelineError, StudioError

#: start kind -> class
START_KINDS: dict[str, type] = {}
DEFAULT_KIND = "data"
#: modules that register further start kinds (imported on first use: they import this module)
_KIND_MODULES = ("studio.core.teleport",)


def register_start(kind: str) -> Callable[[type], type]:
    def deco(cls: type) -> type:
        START_KINDS[kind] = cls
        cls.kind = kind
        return cls
    return deco


def parse_start(raw: Any, where: str = "run.start"):
    """The start object of a ``run.start`` value (None: start from the prior)."""
    if raw is None:
        return None
    for mod in _KIND_MODULES:
        importlib.import_module(mod)
    if not isinstance(raw, dict):
        raise PipelineError('start must be an object such as {"t": 0.5, "x": "x.npy"}', where)
    kind = raw.get("kind", DEFAULT_KIND)
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


def to_model_units(network, x: Tensor) -> Tensor:
    """Data units -> the network's space (trained models record a normalisation)."""
    spec = getattr(network, "spec", None)
    if spec is not None and hasattr(spec, "to_model_units"):
        return spec.to_model_units(x).to(torch.float64)
    return x


@register_start("data")
@dataclass
class DataStart:
    """Start from given data (SDEdit, with forward noising) or a given state, at time t."""

    t: float
    x: Any
    noise: bool = True
    where: str = "run.start"
    kind = "data"

    @classmethod
    def parse(cls, raw: dict, where: str) -> "DataStart":
        unknown = sorted(set(raw) - {"kind", "t", "x", "noise"})
        if unknown:
            raise PipelineError(f"unknown key {unknown[0]!r}; valid: kind, t, x, noise", where)
        t = raw.get("t")
        if not isinstance(t, (int, float)) or isinstance(t, bool):
            raise PipelineError(f"t must be a number (a time of the pipeline's process), got {t!r}",
                                f"{where}.t")
        if "x" not in raw:
            raise PipelineError("x is missing: a .npy path or a nested list", f"{where}.x")
        noise = raw.get("noise", True)
        if not isinstance(noise, bool):
            raise PipelineError(f"noise must be true or false, got {noise!r}", f"{where}.noise")
        return cls(float(t), raw["x"], noise, where)

    def data(self, built) -> Tensor:
        """x as [batch, *data_shape] (float64, the given units)."""
        try:
            arr = load_array(self.x, f"{self.where}.x", built.pipeline.base_dir)
        except StudioError as exc:
            raise PipelineError(exc.problem, f"{self.where}.x") from None
        x = torch.as_tensor(arr, dtype=torch.float64)
        shape, batch = tuple(built.network.data_shape), built.settings.batch
        if tuple(x.shape) in (shape, (1,) + shape):
            x = x.reshape(shape).expand((batch,) + shape).clone()
        elif tuple(x.shape) != (batch,) + shape:
            raise PipelineError(f"x has shape {list(x.shape)}; give one item {list(shape)} or "
                                f"[batch, ...] = {[batch, *shape]}", f"{self.where}.x")
        if not bool(torch.isfinite(x).all()):
            raise PipelineError("x holds NaN or Inf", f"{self.where}.x")
        return x

    def prepare(self, built, z: Tensor, ts: Tensor) -> tuple[Tensor, Tensor]:
        p = built.process
        if not p.t_min <= self.t <= p.t_max:
            raise PipelineError(f"t = {self.t:g} is outside the process's times "
                                f"[{p.t_min:g}, {p.t_max:g}]", f"{self.where}.t")
        x = self.data(built)
        if self.noise:
            t = torch.tensor(self.t, dtype=torch.float64)
            x = p.alpha(t) * to_model_units(built.network, x) + p.sigma(t) * z.to(torch.float64)
        return x, cut_grid(ts, self.t, self.where)


__all__ = ["START_KINDS", "register_start", "parse_start", "cut_grid", "DataStart",
           "to_model_units"]

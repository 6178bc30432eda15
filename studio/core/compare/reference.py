"""Reference endpoints of a comparison: what every cell's error is measured against.

A reference maps the prior noise x_T to the endpoint the probability-flow ODE reaches from it over
the same time span as a cell (and applies the same final denoise), so cells compare against it
sample by sample. References are registered plugins (:data:`REFERENCES`):

* ``closed-form`` - the Gaussian network's exact ODE map (no numerical error at all).
* ``adaptive`` - an adaptive high-order solve at a tight tolerance in float64: the registered
  ``dopri5`` solver when there is one, else the engine's own Dormand-Prince integrator
  (:mod:`studio.core.odeint`). The exact endpoint for analytic networks.
* ``solver`` - a user-chosen solver run at a high budget (trained networks).
* ``auto`` - closed-form where it exists, adaptive for analytic networks, and for trained networks
  Heun at ten times the comparison's largest NFE (at least 200).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch
from torch import Tensor

from ..errors import ParamError, StudioError
from ..model import Denoiser
from ..odeint import dopri5
from ..params import build, param, param_specs, to_params
from ..registry import SOLVERS, Registry
from ..runner import CancelToken, SamplingRun

REFERENCES: Registry = Registry("reference", ("studio.core.compare.reference",))


@dataclass
class ReferenceTask:
    """What a reference is asked for: endpoints of the ODE from ``x_T`` over [t_from, t_to]."""

    denoiser: Denoiser
    x_T: Tensor
    t_from: float
    t_to: float
    denoise_final: bool
    #: the comparison's largest NFE budget (for references that scale with it)
    max_nfe: int = 0
    seed: int = 0
    branch: str = "reference"
    cancel: Optional[CancelToken] = None


@dataclass
class ReferenceResult:
    samples: Tensor
    nfe: int
    seconds: float
    #: one line saying how it was computed
    method: str
    #: the time span it covers (the solver reference may differ from the cells')
    t_from: float = 0.0
    t_to: float = 0.0


@dataclass
class Reference:
    id: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def unavailable(self, network, guidance) -> Optional[str]:
        return None

    def compute(self, task: ReferenceTask) -> ReferenceResult:
        raise NotImplementedError


def _data_units(network, x: Tensor) -> Tensor:
    """Samples in the data's own units, as the runner returns them (identity for analytic nets)."""
    fn = getattr(network, "to_data_units", None)
    return fn(x) if fn is not None else x


def _dtype64(network) -> torch.dtype:
    return torch.float64 if network.default_dtype == torch.float64 else network.default_dtype


@REFERENCES.register("closed-form")
@dataclass
class ClosedForm(Reference):
    """The exact PF-ODE map of a Gaussian network (``ode_solution``), no guidance."""

    title = "Closed-form ODE solution (Gaussian networks)"

    def unavailable(self, network, guidance):
        if not hasattr(network, "ode_solution"):
            return f"network {network.id!r} has no closed-form ODE solution"
        if guidance is not None:
            return "guidance changes the field; no closed form"
        return None

    def compute(self, task):
        den = task.denoiser
        start = time.perf_counter()
        x = task.x_T.to(torch.float64)
        with torch.no_grad():
            out = den.network.ode_solution(x, task.t_from, task.t_to, den.process)
            if task.denoise_final:
                out = den.network.predict(out, torch.as_tensor(task.t_to, dtype=torch.float64),
                                          den.process)
        out = _data_units(den.network, out)
        return ReferenceResult(out.cpu(), 0, time.perf_counter() - start,
                               "closed-form Gaussian ODE solution", task.t_from, task.t_to)


def _solver_has(kind: str, names: tuple[str, ...]) -> bool:
    specs = {s.name for s in param_specs(SOLVERS.get(kind))}
    return all(n in specs for n in names)


@REFERENCES.register("adaptive")
@dataclass
class Adaptive(Reference):
    """Adaptive Dormand-Prince 5(4) solve of the PF-ODE in float64 at a tight tolerance."""

    title = "Adaptive high-order solve (exact endpoint)"
    rtol: float = param(1e-9, "relative tolerance", min=1e-14, max=1e-2)
    atol: float = param(1e-9, "absolute tolerance", min=1e-14, max=1e-2)
    integrator: str = param("auto", "auto: the registered dopri5 solver if there is one, else the "
                            "built-in; builtin: always the engine's own integrator",
                            choices=("auto", "builtin", "dopri5"))

    def _use_solver(self) -> bool:
        if self.integrator == "builtin":
            return False
        ok = "dopri5" in SOLVERS and _solver_has("dopri5", ("rtol", "atol"))
        if self.integrator == "dopri5" and not ok:
            raise ParamError("no registered 'dopri5' solver with rtol/atol parameters",
                             "reference.integrator")
        return ok

    def compute(self, task):
        den = task.denoiser
        dtype = _dtype64(den.network)
        x = task.x_T.to(dtype)
        start = time.perf_counter()
        if self._use_solver():
            from ..pipeline import build_solver

            solver = build_solver("dopri5", {"rtol": self.rtol, "atol": self.atol,
                                             "denoise_final": task.denoise_final}, "reference")
            ts = torch.as_tensor([task.t_from, task.t_to], dtype=torch.float64)
            run = SamplingRun(den, solver, x, seed=task.seed, branch=task.branch,
                              cancel=task.cancel, ts=_solver_times(solver, den.process, ts))
            res = run.run()
            return ReferenceResult(res.samples.to(torch.float64), res.nfe, res.seconds,
                                   f"registered dopri5 solver, rtol {self.rtol:g}, atol {self.atol:g}",
                                   task.t_from, task.t_to)
        den.nfe = 0

        def rhs(t: float, y: Tensor) -> Tensor:
            return den(y, t).velocity

        with torch.no_grad():
            sol = dopri5(rhs, x, task.t_from, task.t_to, rtol=self.rtol, atol=self.atol,
                         cancel=task.cancel)
            out = sol.y
            if task.denoise_final:
                out = den(out, task.t_to).x0
            out = _data_units(den.network, out)
        return ReferenceResult(out.detach().cpu().to(torch.float64), den.nfe,
                               time.perf_counter() - start,
                               f"built-in Dormand-Prince 5(4), rtol {self.rtol:g}, atol {self.atol:g}, "
                               f"{sol.steps} steps", task.t_from, task.t_to)


def _solver_times(solver, process, span: Tensor) -> Tensor:
    """The time grid to hand an adaptive solver: its own, with the endpoints set to ``span``."""
    try:
        ts = solver.times(process).clone()
    except StudioError:
        return span
    ts[0], ts[-1] = span[0], span[-1]
    return ts


@REFERENCES.register("solver")
@dataclass
class SolverReference(Reference):
    """A chosen solver at a high budget from the same noise (trained networks: no exact answer)."""

    title = "High-NFE run of a chosen solver"
    solver: str = param("heun", "solver id")
    params: dict = param(default_factory=lambda: {"nfe": 501},
                         doc="the solver's parameters (budget, schedule, ...)")

    def unavailable(self, network, guidance):
        if self.solver not in SOLVERS:
            return f"unknown solver {self.solver!r}"
        return None

    def compute(self, task):
        from ..pipeline import build_solver

        params = dict(self.params)
        params.setdefault("denoise_final", task.denoise_final)
        solver = build_solver(self.solver, params, "reference")
        den = task.denoiser
        run = SamplingRun(den, solver, task.x_T, seed=task.seed, branch=task.branch,
                          cancel=task.cancel)
        res = run.run()
        ts = run.ts
        budget = ", ".join(f"{k} {v}" for k, v in params.items() if k != "denoise_final")
        return ReferenceResult(res.samples.to(torch.float64), res.nfe, res.seconds,
                               f"{self.solver} ({budget}), {res.nfe} NFE",
                               float(ts[0]), float(ts[-1]))


@REFERENCES.register("auto")
@dataclass
class Auto(Reference):
    """Closed form where it exists, else adaptive for analytic networks, else a high-NFE Heun run."""

    title = "Automatic (exact where possible)"
    rtol: float = param(1e-9, "adaptive solve: relative tolerance", min=1e-14, max=1e-2)
    atol: float = param(1e-9, "adaptive solve: absolute tolerance", min=1e-14, max=1e-2)

    def choose(self, network, guidance, max_nfe: int = 0) -> Reference:
        if ClosedForm().unavailable(network, guidance) is None:
            return ClosedForm()
        if network.trained_process is None:
            return Adaptive(rtol=self.rtol, atol=self.atol)
        return SolverReference("heun", {"nfe": max(200, 10 * int(max_nfe)), "schedule": "karras"})

    def compute(self, task):
        den = task.denoiser
        return self.choose(den.network, den.guidance, task.max_nfe).compute(task)


def build_reference(entry: Any, where: str = "reference") -> Reference:
    """A reference from ``"auto"``, ``{"kind": ..., "params": {...}}`` or an instance."""
    if isinstance(entry, Reference):
        return entry
    if entry is None:
        entry = "auto"
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        raise ParamError("a reference is a kind or {\"kind\": ..., \"params\": {...}}", where)
    cls = REFERENCES.get(entry["kind"], f"{where}.kind")
    return build(cls, entry.get("params") or {}, f"{where}.params")


def reference_entry(ref: Reference) -> dict:
    return {"kind": ref.id, "params": to_params(ref)}


__all__ = ["REFERENCES", "Reference", "ReferenceTask", "ReferenceResult", "build_reference",
           "reference_entry"]

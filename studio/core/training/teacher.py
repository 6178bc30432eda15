"""The teacher of a distillation objective: a pipeline file (network + process + ODE solver), or
a model file from the library (``.safetensors`` or ``assets:NAME.safetensors``: its network with
DPM-Solver++(2M)).

A teacher gives what the flow-map objectives need from a pretrained model (or an analytic one):

    velocity(x, t, labels)   its probability-flow velocity at one time per sample
    solve(x, t, u, labels)   its ODE solver's solution from time t to time u (shared by the batch)

Both are taken under the student's process (the engine maps any network onto any process
exactly, by matching log-SNR). The solve runs the teacher pipeline's own solver on a grid of
``steps`` steps uniform in log-SNR between t and u (in t where an end has
alpha = 0 or sigma = 0); a ``flow-map`` solver on a network with an
exact or reference flow map (``gaussian``, ``gmm``, ``empirical``) makes the teacher exact.

Units: the student is trained in the teacher's units, so the two agree on what x is: a trained
(``file``) teacher's normalisation, or none (data units) for an analytic teacher.
"""
from __future__ import annotations

import os

import torch
from torch import Tensor

from ..errors import StudioError
from ..model import Denoiser
from ..processes.base import Process, as_time
from ..solvers.base import SolveContext


def is_model_file(path: str) -> bool:
    return path.startswith("assets:") or path.lower().endswith(".safetensors")


class Teacher:
    def __init__(self, path: str, process: Process, steps: int = 2, where: str = "teacher"):
        from ..pipeline import Pipeline, build_solver
        self.path = path
        if is_model_file(path):
            # a model from the library: its network with DPM-Solver++(2M) as the ODE solver
            from ..networks.file import FileNetwork
            try:
                self.network = FileNetwork(path=path)
            except StudioError as exc:
                raise StudioError(f"teacher model: {exc}", where) from None
            self.guidance, self.solver = None, build_solver("dpm-solver++-2m", {}, where)
        else:
            try:
                built = Pipeline.load(path).build()
            except StudioError as exc:
                raise StudioError(f"teacher pipeline: {exc}", where) from None
            branch = built.branches[0]
            self.network = built.network
            self.guidance = built.guidance.get(branch.guidance) if branch.guidance else None
            self.solver = built.solvers[branch.solver]
        if self.solver.is_stochastic():
            raise StudioError(f"the teacher's solver {self.solver.id!r} is stochastic: a teacher "
                              "needs an ODE solver", where)
        self.process = process
        self.steps = int(steps)
        spec = getattr(self.network, "spec", None)
        #: (shift, scale): the student's units are the teacher's
        self.units = (spec.shift, spec.scale) if spec is not None else (0.0, 1.0)
        self.num_classes = self.network.num_classes
        self.data_shape = tuple(self.network.data_shape)

    @classmethod
    def from_config(cls, path: str, base_dir: str, process: Process, steps: int,
                    where: str) -> "Teacher":
        if path.startswith("assets:"):
            return cls(path, process, steps, where)
        full = path if os.path.isabs(path) or not base_dir else os.path.join(base_dir, path)
        if not os.path.exists(full):
            raise StudioError(f"teacher pipeline not found: {full}", where)
        return cls(full, process, steps, where)

    def _denoiser(self, labels: Tensor | None) -> Denoiser:
        return Denoiser(self.network, self.process, self.guidance, labels)

    @torch.no_grad()
    def velocity(self, x: Tensor, t, labels: Tensor | None = None) -> Tensor:
        dtype = self.network.default_dtype
        return self._denoiser(labels)(x.to(dtype), as_time(t, x)).velocity.to(x.dtype)

    @torch.no_grad()
    def solve(self, x: Tensor, t: float, u: float, labels: Tensor | None = None) -> Tensor:
        """The teacher solver's ODE solution from t to u (scalars), ``steps`` steps."""
        p = self.process
        if t == u:
            return x
        l0, l1 = float(p.logsnr(as_time(t))), float(p.logsnr(as_time(u)))
        if abs(l0) < float("inf") and abs(l1) < float("inf"):
            lam = torch.linspace(l0, l1, self.steps + 1, dtype=torch.float64)
            ts = torch.clamp(p.t_of_logsnr(lam), float(p.t_min), float(p.t_max))
        else:   # an end with alpha = 0 or sigma = 0 (rectified flow): uniform in t
            ts = torch.linspace(float(t), float(u), self.steps + 1, dtype=torch.float64)
        ts[0], ts[-1] = t, u
        dtype = self.network.default_dtype
        ctx = SolveContext(self._denoiser(labels), lambda y: torch.randn_like(y))
        y = x.to(dtype)
        for step in self.solver.sample(ctx, y, ts):
            y = step.x
        return y.to(x.dtype)

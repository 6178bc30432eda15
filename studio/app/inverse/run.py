"""Running an inverse problem: the app's sampling worker, plus the measurement residual per step.

:class:`InverseState` is the app's :class:`~studio.app.runstate.RunState` (so the trajectory views
show x_t and the x0-prediction of every branch) with ``||y - A x0||`` per step and branch.
:class:`InverseWorker` is the main window's worker (every method's branch round-robin, as a job of
the app's job service), extended by its hooks: it records the residual of each step's x0-prediction through the
guidance node's own :meth:`~studio.core.inverse.guidance.InverseGuidance.residual` (data units).
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from ..runstate import RunState
from ..worker import RunController, SamplingWorker
from .problem import method_title


class InverseState(RunState):
    """Frames of every branch, and the mean residual ||y - A x0|| per recorded step."""

    def __init__(self) -> None:
        super().__init__()
        self._res: dict[str, list[tuple[int, float]]] = {}
        self._final: dict[str, float] = {}
        self._traces: dict[str, list] = {}
        self._res_lock = threading.Lock()

    def begin(self, info, kinds) -> None:
        with self._res_lock:
            self._res = {b: [] for b in info.branches}
            self._final, self._traces = {}, {}
        super().begin(info, kinds)

    def reset(self) -> None:
        with self._res_lock:
            self._res, self._final, self._traces = {}, {}, {}
        super().reset()

    def add_residual(self, branch: str, index: int, value: float) -> None:
        with self._res_lock:
            self._res.setdefault(branch, []).append((int(index), float(value)))

    def residuals(self, branch: str) -> tuple[np.ndarray, np.ndarray]:
        """(step indices, mean residual over the batch) of one branch."""
        with self._res_lock:
            pts = list(self._res.get(branch, ()))
        if not pts:
            return np.zeros(0), np.zeros(0)
        a = np.asarray(pts, dtype=np.float64)
        return a[:, 0], a[:, 1]

    def set_final(self, branch: str, value: float) -> None:
        with self._res_lock:
            self._final[branch] = float(value)

    def final_residual(self, branch: str) -> float | None:
        """The residual of the run's samples (None until the branch has finished)."""
        with self._res_lock:
            return self._final.get(branch)

    def set_trace(self, branch: str, trace: list) -> None:
        """A particle method's per-step ESS and weights (``ParticleGuidance.trace``)."""
        with self._res_lock:
            self._traces[branch] = list(trace)

    def trace(self, branch: str) -> list:
        with self._res_lock:
            return list(self._traces.get(branch, ()))

    def traced(self) -> list[str]:
        with self._res_lock:
            return list(self._traces)

    def branches(self) -> list[str]:
        with self._res_lock:
            return list(self._res)


class InverseWorker(SamplingWorker):
    """The app's sampling worker with residuals, through its hooks; branch titles are the
    methods'."""

    def titles(self, built) -> dict[str, str]:
        self._guidance = {b.solver: built.guidance[b.guidance] for b in built.branches}
        net = built.network
        self._to_model = getattr(getattr(net, "spec", None), "to_model_units", None)
        return {b.solver: method_title(self.pipeline.nodes[b.guidance].kind, short=True)
                for b in built.branches}

    def on_step(self, run, event, info) -> None:
        if event.x0 is not None:
            with torch.no_grad():
                self.state.add_residual(run.branch, event.index, float(
                    self._guidance[run.branch].residual(event.x0.detach()).mean()))

    def on_branch_end(self, run, info) -> None:
        samples = run.result.samples
        with torch.no_grad():      # the samples are in data units
            xm = self._to_model(samples.to(torch.float64)) if self._to_model else samples
            self.state.set_final(run.branch, float(self._guidance[run.branch].residual(xm).mean()))
        g = self._guidance[run.branch]
        if getattr(g, "trace", None):
            self.state.set_trace(run.branch, g.trace)


class InverseController(RunController):
    """The app's run controller (throttled updates, cancel, shutdown) driving an InverseWorker."""

    worker_class = InverseWorker

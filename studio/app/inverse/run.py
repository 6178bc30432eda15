"""Running an inverse problem: the app's sampling worker, plus the measurement residual per step.

:class:`InverseState` is the app's :class:`~studio.app.runstate.RunState` (so the trajectory views
show x_t and the x0-prediction of every branch) with ``||y - A x0||`` per step and branch.
:class:`InverseWorker` runs every method's branch round-robin in a worker thread, exactly as the
main window's worker does, and records the residual of each step's x0-prediction through the
guidance node's own :meth:`~studio.core.inverse.guidance.InverseGuidance.residual` (data units).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import torch

from ..backdrop import make_backdrop
from ..runstate import RunInfo, RunState
from ..worker import RECORD_LIMIT, RunController, SamplingWorker
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
    """The app's sampling worker with residuals; branch titles are the methods'."""

    def _run(self) -> tuple[str, str]:
        built = self.pipeline.build()
        built.device()
        net, proc = built.network, built.process
        backdrop = make_backdrop(net)
        guidance = {b.solver: built.guidance[b.guidance] for b in built.branches}
        titles = {b.solver: method_title(self.pipeline.nodes[b.guidance].kind, short=True)
                  for b in built.branches}
        kinds = {b.solver: self.pipeline.nodes[b.solver].kind for b in built.branches}
        settings = built.settings
        numel = int(np.prod(net.data_shape))
        steps = max(s.num_steps() for s in built.solvers.values())
        record = settings.batch * numel * (steps + 2) * 16 < RECORD_LIMIT
        info = RunInfo([b.solver for b in built.branches], titles, settings.batch, settings.seed,
                       tuple(net.data_shape), backdrop, proc, net)
        runs = list(built.runs(record=record, cancel=self.cancel))
        self.state.begin(info, kinds)
        self.prepared.emit(info)
        to_model = getattr(getattr(net, "spec", None), "to_model_units", None)
        live = [(r, iter(r)) for r in runs]
        last = {r.branch: time.perf_counter() for r in runs}
        while live:
            for r, it in list(live):
                g = guidance[r.branch]
                try:
                    ev = next(it)
                except StopIteration:
                    live.remove((r, it))
                    self.state.set_result(r.branch, r.result)
                    prev = self.state.frames(r.branch)[-1]
                    samples = r.result.samples
                    with torch.no_grad():      # the samples are in data units
                        xm = to_model(samples.to(torch.float64)) if to_model else samples
                        self.state.set_final(r.branch, float(g.residual(xm).mean()))
                    if getattr(g, "trace", None):
                        self.state.set_trace(r.branch, g.trace)
                    if r.solver.denoise_final:
                        self._add(r.branch, info, prev.index, prev.steps, prev.t, samples, None,
                                  r.result.nfe, r.result.seconds, 0.0, final=True)
                    continue
                now = time.perf_counter()
                dt, last[r.branch] = now - last[r.branch], now
                self._add(r.branch, info, ev.index, ev.steps, ev.t, ev.x, ev.x0, ev.nfe, ev.elapsed,
                          dt if ev.index else 0.0)
                if ev.x0 is not None:
                    with torch.no_grad():
                        self.state.add_residual(r.branch, ev.index,
                                                float(g.residual(ev.x0.detach()).mean()))
                time.sleep(0)   # let the UI thread take the GIL if it is waiting for it
        return "finished", ""


class InverseController(RunController):
    """The app's run controller (throttled updates, cancel, shutdown) driving an InverseWorker."""

    worker_class = InverseWorker

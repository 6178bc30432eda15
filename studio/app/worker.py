"""Sampling in a worker thread, driven by the engine's step events.

:class:`RunController` lives in the UI thread. It runs one :class:`SamplingWorker` per run as a
job of the app's job service (:mod:`studio.app.jobs`; a second start while one runs is refused),
and tells the views about new frames on the service's throttled tick, at most ~60 times a second
however fast the engine steps: the worker never floods the event loop, it only appends frames to
the shared :class:`~studio.app.runstate.RunState`.

The worker iterates every solver branch round-robin, one step at a time, so branches advance
side by side; each branch is the engine's own :class:`~studio.core.runner.SamplingRun`, so the
samples are exactly those of ``studio run``. Cancelling sets the engine's CancelToken, which stops
the run before the next step.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from ..core.pipeline import Pipeline
from ..core.runner import CancelToken
from .backdrop import make_backdrop
from .jobs import JobRunner
from .runstate import (MAX_IMAGES, MAX_POINTS, Frame, RunInfo, RunState, draw_subset, finite_box,
                       spread_box)
from .specs import kind_title

#: above this many bytes of trajectory the run is not recorded (the NPZ export then holds samples)
RECORD_LIMIT = 512 * 2 ** 20


class SamplingWorker:
    """One run of a pipeline, the job of a :class:`RunController` (called in its worker thread).

    Subclasses adapt it through hooks rather than a run loop of their own: :meth:`titles` (the
    branch titles), :meth:`on_step` (after each step event is recorded) and :meth:`on_branch_end`
    (once a branch has its result)."""

    def __init__(self, pipeline: Pipeline, state: RunState, cancel: CancelToken):
        self.pipeline, self.state, self.cancel = pipeline, state, cancel
        #: the indices of the particles the views draw (None: all), fixed for the run
        self.drawn: np.ndarray | None = None
        self._procs: dict = {}

    # -- hooks ---------------------------------------------------------------------------------
    def titles(self, built) -> dict[str, str]:
        return {b.solver: kind_title("solver", self.pipeline.nodes[b.solver].kind)
                for b in built.branches}

    def on_step(self, run, event, info: RunInfo) -> None:
        """After a step event of ``run`` (a SamplingRun) has been recorded."""

    def on_branch_end(self, run, info: RunInfo) -> None:
        """After ``run`` has finished and its result is in the run state."""

    # -- the run ---------------------------------------------------------------------------------
    def __call__(self, ctx) -> None:
        built = self.pipeline.build()
        built.device()  # fails early with a readable message for an unavailable device
        self.built = built
        net, proc = built.network, built.process
        backdrop = make_backdrop(net)
        kinds = {b.solver: self.pipeline.nodes[b.solver].kind for b in built.branches}
        settings = built.settings
        numel = int(np.prod(net.data_shape))
        steps = max(s.num_steps() for s in built.solvers.values())
        record = settings.batch * numel * (steps + 2) * 16 < RECORD_LIMIT
        from ..core.cost import check_run
        check_run(built, record)  # refuses with the figures before any allocation
        info = RunInfo([b.solver for b in built.branches], self.titles(built), settings.batch,
                       settings.seed, tuple(net.data_shape), backdrop, proc, net)
        # the process each branch's times belong to (a guidance kind may run on its own)
        self._procs = {b.solver: built.guidance[b.guidance].branch_process(proc) if b.guidance
                       else proc for b in built.branches}
        runs = list(built.runs(record=record, cancel=self.cancel))
        self.drawn = draw_subset(min(settings.batch, MAX_POINTS), settings.seed)
        self.state.begin(info, kinds)
        ctx.emit(("prepared", info))
        live = [(r, iter(r)) for r in runs]
        last = {r.branch: time.perf_counter() for r in runs}
        while live:
            for r, it in list(live):
                try:
                    ev = next(it)
                except StopIteration:
                    live.remove((r, it))
                    self.state.set_result(r.branch, r.result)
                    self.on_branch_end(r, info)
                    if r.solver.denoise_final:
                        prev = self.state.frames(r.branch)[-1]
                        self._add(r.branch, info, prev.index, prev.steps, prev.t, r.result.samples,
                                  None, r.result.nfe, r.result.seconds, 0.0, final=True)
                    continue
                now = time.perf_counter()
                dt, last[r.branch] = now - last[r.branch], now
                self._add(r.branch, info, ev.index, ev.steps, ev.t, ev.x, ev.x0, ev.nfe, ev.elapsed,
                          dt if ev.index else 0.0)
                self.on_step(r, ev, info)
                time.sleep(0)   # let the UI thread take the GIL if it is waiting for it

    def _add(self, branch, info: RunInfo, index, steps, t, x, x0, nfe, elapsed, dt, final=False):
        bd = info.backdrop
        tt = torch.tensor(t, dtype=torch.float64)
        proc = self._procs.get(branch, info.process)
        sigma = float(proc.sigma(tt))
        logsnr = float(proc.logsnr(tt))

        def host(v, n):
            v = v[:n].detach()
            if not final:   # the views show data units, as the final samples are
                # (a latent network offers a cheap preview instead of decoding every step)
                v = getattr(info.network, "preview_units", info.network.to_data_units)(v)
            return v.to("cpu", torch.float64).numpy()

        box = x0box = spread = None
        if bd.mode == "image":
            imgs = host(x, MAX_IMAGES).astype(np.float32)
            x0i = host(x0, MAX_IMAGES).astype(np.float32) if x0 is not None else None
            xy, x0xy = np.zeros((0, 2), np.float32), None
        else:
            # everything the view needs is prepared here, off the UI thread: the drawn subset,
            # its bounds, and the spread of all the particles for the zoom
            imgs = x0i = None
            full = bd.project(host(x, MAX_POINTS))
            spread = spread_box(full)
            xy = self._drawn_points(full)
            box = finite_box(xy)
            x0xy = None
            if x0 is not None:
                x0xy = self._drawn_points(bd.project(host(x0, MAX_POINTS)))
                x0box = finite_box(x0xy)
        self.state.add(branch, Frame(index, steps, float(t), sigma, logsnr, int(nfe), float(elapsed),
                                     float(dt), xy, x0xy, imgs, x0i, final, box, x0box, spread))

    def _drawn_points(self, xy: np.ndarray) -> np.ndarray:
        """The particles the views draw (:data:`~studio.app.runstate.DRAW_POINTS` at most), as a
        contiguous float32 array."""
        idx = self.drawn
        if idx is not None and len(xy) > idx[-1]:
            xy = xy[idx]
        return np.ascontiguousarray(xy, dtype=np.float32)


class RunController(QObject):
    """Starts, cancels and reaps sampling runs, one at a time, through the app's job service."""

    started = Signal(object)        # RunInfo, once the pipeline is built
    updated = Signal()              # new frames (at most ~fps per second)
    finished = Signal(str, str)     # status (finished, cancelled, failed), message
    #: the worker class it starts (a workspace may run its own kind of worker)
    worker_class = None             # SamplingWorker, set below

    def __init__(self, state: RunState | None = None, fps: float = 60.0, parent=None):
        super().__init__(parent)
        self.state = state or RunState()
        self.runner = JobRunner(self, fps, advice="reduce the batch size")
        self.runner.items.connect(self._on_items)
        self.runner.tick.connect(self._poll)
        self.runner.finished.connect(self._on_finished)
        self._worker: SamplingWorker | None = None
        self._seen = -1
        self.t_start = 0.0

    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def min_interval(self) -> int:
        """The shortest time between two live updates (ms; the preview rate preference)."""
        return self.runner.min_interval

    @min_interval.setter
    def min_interval(self, ms: int) -> None:
        self.runner.min_interval = max(1, int(ms))

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline of the run in progress (as it was when the run started), or None."""
        return self._worker.pipeline if self._worker is not None else None

    @property
    def _thread(self):
        return self.runner._thread

    def start(self, pipeline: Pipeline, name: str = "Sampling") -> str | None:
        """Start a run; returns None, or why not (a run is already going)."""
        if self.running:
            return "a run is already in progress: wait for it or cancel it (Esc)"
        cancel = CancelToken()
        self._worker = (self.worker_class or SamplingWorker)(pipeline, self.state, cancel)
        self.state.reset()
        self._seen = -1
        self.t_start = time.perf_counter()
        self.runner.start(name, self._worker, cancel=cancel)
        return None

    def cancel(self) -> bool:
        return self.runner.cancel()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel and wait for the worker (closing the window). True if it stopped in time."""
        return self.runner.shutdown(timeout_ms)

    def pace(self, cost_ms: float) -> None:
        """Space live updates so that drawing them takes at most half of the UI thread's time
        (60 per second when they are cheap, fewer when a frame is costly to draw)."""
        self.runner.pace(cost_ms)

    def _on_items(self, items) -> None:
        for kind, payload in items:
            if kind == "prepared":
                self.started.emit(payload)

    def _poll(self) -> None:
        n = self.state.total_frames()
        if n != self._seen:
            self._seen = n
            self.updated.emit()

    def _on_finished(self, _name: str, status: str, message: str, _result) -> None:
        self.state.end(status, message)
        self._worker = None
        self._seen = -1
        self._poll()
        self.finished.emit(status, message)


RunController.worker_class = SamplingWorker

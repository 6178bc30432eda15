"""Sampling in a worker thread, driven by the engine's step events.

:class:`RunController` lives in the UI thread. It starts one :class:`SamplingWorker` in a QThread
per run (a second start while one runs is refused), and tells the views about new frames with a
timer at most ~60 times a second, however fast the engine steps: the worker never floods the event
loop, it only appends frames to the shared :class:`~studio.app.runstate.RunState`.

The worker iterates every solver branch round-robin, one step at a time, so branches advance
side by side; each branch is the engine's own :class:`~studio.core.runner.SamplingRun`, so the
samples are exactly those of ``studio run``. Cancelling sets the engine's CancelToken, which stops
the run before the next step.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from ..core.errors import Cancelled, StudioError
from ..core.pipeline import Pipeline
from ..core.runner import CancelToken
from .backdrop import make_backdrop
from .runstate import MAX_IMAGES, MAX_POINTS, Frame, RunInfo, RunState
from .specs import kind_title

#: above this many bytes of trajectory the run is not recorded (the NPZ export then holds samples)
RECORD_LIMIT = 512 * 2 ** 20


class SamplingWorker(QObject):
    prepared = Signal(object)   # RunInfo
    done = Signal()

    def __init__(self, pipeline: Pipeline, state: RunState, cancel: CancelToken):
        super().__init__()
        self.pipeline, self.state, self.cancel = pipeline, state, cancel

    @Slot()
    def run(self) -> None:
        status, message = "failed", ""
        try:
            status, message = self._run()
        except Cancelled as exc:
            status, message = "cancelled", str(exc)
        except StudioError as exc:
            message = str(exc)
        except torch.cuda.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            message = ("CUDA out of memory: reduce the batch size, or run on the CPU "
                       "(device selector in the toolbar)")
        except MemoryError:
            message = ("out of memory while running: reduce the batch size, the number of "
                       "steps, or the size of the network or its data")
        except Exception as exc:  # noqa: BLE001 - a bug in a plugin must not take the app down
            from ..cli.safety import internal_message   # one sentence and a crash report
            message = "internal error: " + internal_message(exc, hint="")
        finally:
            self.state.end(status, message)
            self.done.emit()

    def _run(self) -> tuple[str, str]:
        built = self.pipeline.build()
        built.device()  # fails early with a readable message for an unavailable device
        net, proc = built.network, built.process
        backdrop = make_backdrop(net)
        titles = {b.solver: kind_title("solver", self.pipeline.nodes[b.solver].kind)
                  for b in built.branches}
        kinds = {b.solver: self.pipeline.nodes[b.solver].kind for b in built.branches}
        settings = built.settings
        numel = int(np.prod(net.data_shape))
        steps = max(s.num_steps() for s in built.solvers.values())
        record = settings.batch * numel * (steps + 2) * 16 < RECORD_LIMIT
        from ..core.cost import check_run
        check_run(built, record)  # refuses with the figures before any allocation
        info = RunInfo([b.solver for b in built.branches], titles, settings.batch, settings.seed,
                       tuple(net.data_shape), backdrop, proc, net)
        runs = list(built.runs(record=record, cancel=self.cancel))
        self.state.begin(info, kinds)
        self.prepared.emit(info)
        live = [(r, iter(r)) for r in runs]
        last = {r.branch: time.perf_counter() for r in runs}
        while live:
            for r, it in list(live):
                try:
                    ev = next(it)
                except StopIteration:
                    live.remove((r, it))
                    self.state.set_result(r.branch, r.result)
                    if r.solver.denoise_final:
                        prev = self.state.frames(r.branch)[-1]
                        self._add(r.branch, info, prev.index, prev.steps, prev.t, r.result.samples,
                                  None, r.result.nfe, r.result.seconds, 0.0, final=True)
                    continue
                now = time.perf_counter()
                dt, last[r.branch] = now - last[r.branch], now
                self._add(r.branch, info, ev.index, ev.steps, ev.t, ev.x, ev.x0, ev.nfe, ev.elapsed,
                          dt if ev.index else 0.0)
                time.sleep(0)   # let the UI thread take the GIL if it is waiting for it
        return "finished", ""

    def _add(self, branch, info: RunInfo, index, steps, t, x, x0, nfe, elapsed, dt, final=False):
        bd = info.backdrop
        tt = torch.tensor(t, dtype=torch.float64)
        sigma = float(info.process.sigma(tt))
        logsnr = float(info.process.logsnr(tt))

        def host(v, n):
            v = v[:n].detach()
            if not final:   # the views show data units, as the final samples are
                # (a latent network offers a cheap preview instead of decoding every step)
                v = getattr(info.network, "preview_units", info.network.to_data_units)(v)
            return v.to("cpu", torch.float64).numpy()

        if bd.mode == "image":
            imgs = host(x, MAX_IMAGES).astype(np.float32)
            x0i = host(x0, MAX_IMAGES).astype(np.float32) if x0 is not None else None
            xy, x0xy = np.zeros((0, 2), np.float32), None
        else:
            imgs = x0i = None
            xy = bd.project(host(x, MAX_POINTS)).astype(np.float32)
            x0xy = bd.project(host(x0, MAX_POINTS)).astype(np.float32) if x0 is not None else None
        self.state.add(branch, Frame(index, steps, float(t), sigma, logsnr, int(nfe), float(elapsed),
                                     float(dt), xy, x0xy, imgs, x0i, final))


class RunController(QObject):
    """Starts, cancels and reaps sampling workers; one run at a time."""

    started = Signal(object)        # RunInfo, once the pipeline is built
    updated = Signal()              # new frames (at most ~fps per second)
    finished = Signal(str, str)     # status (finished, cancelled, failed), message
    #: the worker class it starts (a workspace may run its own kind of worker)
    worker_class = None             # SamplingWorker, set below

    def __init__(self, state: RunState | None = None, fps: float = 60.0, parent=None):
        super().__init__(parent)
        self.min_interval = max(1, int(1000 / fps))
        self.state = state or RunState()
        self._thread: QThread | None = None
        self._worker: SamplingWorker | None = None
        self._cancel: CancelToken | None = None
        self._seen = -1
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / fps)))
        self._timer.timeout.connect(self._poll)
        self.t_start = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, pipeline: Pipeline) -> str | None:
        """Start a run; returns None, or why not (a run is already going)."""
        if self.running:
            return "a run is already in progress: wait for it or cancel it (Esc)"
        self._cancel = CancelToken()
        thread = QThread()
        worker = (self.worker_class or SamplingWorker)(pipeline, self.state, self._cancel)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.prepared.connect(self._on_prepared)
        # direct: quit() is thread-safe, and the UI thread may be blocked in shutdown()'s wait()
        worker.done.connect(thread.quit, Qt.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self.state.reset()
        self._seen = -1
        self._timer.setInterval(self.min_interval)
        self.t_start = time.perf_counter()
        thread.start()
        self._timer.start()
        return None

    def cancel(self) -> bool:
        if self._cancel is not None and self.running:
            self._cancel.cancel()
            return True
        return False

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel and wait for the worker (closing the window). True if it stopped in time."""
        if not self.running:
            return True
        self.cancel()
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    def pace(self, cost_ms: float) -> None:
        """Space live updates so that drawing them takes at most half of the UI thread's time
        (60 per second when they are cheap, fewer when a frame is costly to draw)."""
        self._timer.setInterval(int(min(250, max(self.min_interval, 2 * cost_ms))))

    def _on_prepared(self, info) -> None:
        self.started.emit(info)

    def _poll(self) -> None:
        n = self.state.total_frames()
        if n != self._seen:
            self._seen = n
            self.updated.emit()

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._timer.stop()
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        thread.wait()
        worker.deleteLater()
        thread.deleteLater()
        self._seen = -1
        self._poll()
        self.finished.emit(self.state.status, self.state.message)

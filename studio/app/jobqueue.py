"""The job queue: pipeline runs (Shift+Run), trainings and comparisons queued instead of run at
once, run one after the other.

Each :class:`QueuedJob` holds the pipeline as it was when queued (its data-file paths made absolute,
so that later edits or another folder do not change it). The :class:`JobQueue` runs the first
pending job whenever nothing else samples, through the app's own sampling worker
(:class:`~studio.app.worker.RunController`), so a queued run gives exactly the samples a direct run
of the same pipeline gives; each finished run lands in the Gallery with its pipeline.

The queue is saved (``queue.json`` in the app's data folder, written atomically) on every change:
after a restart the pending jobs are back (the queue then starts paused, so nothing heavy runs
unasked), and a job that was running when the app died is marked ``interrupted``.
"""
from __future__ import annotations

import copy
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field

from PySide6.QtCore import QObject, Signal

from ..core.errors import StudioError
from ..core.pipeline import Pipeline, write_atomic
from .runstate import RunState
from .worker import RunController

FORMAT = "studio.queue/1"
#: statuses of a job; only "pending" jobs run
PENDING, RUNNING = "pending", "running"
DONE = ("finished", "failed", "cancelled", "interrupted")


@dataclass
class QueuedJob:
    title: str
    #: the pipeline of a run; a training's configuration (studio.train/1); a comparison's spec
    pipeline: dict
    base_dir: str | None = None
    kind: str = "run"             # run | train | compare
    device: str = "cpu"           # a training's device (a run's is in its pipeline)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = PENDING
    message: str = ""
    created: float = field(default_factory=time.time)
    ended: float | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "QueuedJob":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if not isinstance(known.get("pipeline"), dict) or not isinstance(known.get("title"), str):
            raise ValueError("a queued job needs a title and a pipeline")
        return cls(**known)


class JobQueue(QObject):
    """The queued jobs, their order and state, and the runner that works through them."""

    changed = Signal()                 # the list or a status changed
    jobStarted = Signal(object)        # QueuedJob
    jobFinished = Signal(object, object)   # QueuedJob, RunState (its results, for the gallery)
    message = Signal(str, str)         # level, text

    def __init__(self, path: str | None, parent=None):
        super().__init__(parent)
        self.path = path
        self.jobs: list[QueuedJob] = []
        self.paused = False
        self.state = RunState()
        self.controller = RunController(self.state, fps=10, parent=self)
        self.controller.finished.connect(self._finished)
        self._current: QueuedJob | None = None
        self._training = None            # a TrainingController, made for the first training
        self._compare = None             # a TaskRunner, made for the first comparison
        #: () -> bool: whether something else is sampling now (the window's own run)
        self.busy_elsewhere = lambda: False
        self.load()

    # -- the list ----------------------------------------------------------------------------------
    def add(self, pipeline: Pipeline | dict, title: str, base_dir: str | None = None) -> QueuedJob:
        """Queue a run of ``pipeline`` (checked now: a pipeline that cannot build is refused with
        the reason, rather than failing later while nobody watches)."""
        pipe = pipeline if isinstance(pipeline, Pipeline) else Pipeline.from_dict(
            copy.deepcopy(pipeline), base_dir, title)
        pipe.build()                    # raises StudioError naming the node and field
        from .comfort.pngio import portable
        job = QueuedJob(title, portable(pipe.to_dict(), base_dir or pipe.base_dir),
                        base_dir or pipe.base_dir)
        self.jobs.append(job)
        self._save()
        self.kick()
        return job

    def add_training(self, config: dict, title: str, device: str = "cpu") -> QueuedJob:
        """Queue a training (``config``: studio.train/1; checked now). The model lands in the
        user's library, as a training from the Training workspace does."""
        from ..core.training import TrainConfig
        TrainConfig.from_dict(copy.deepcopy(config))        # raises StudioError naming the field
        job = QueuedJob(title, copy.deepcopy(config), kind="train", device=device)
        self.jobs.append(job)
        self._save()
        self.kick()
        return job

    def add_comparison(self, spec: dict, title: str) -> QueuedJob:
        """Queue a comparison (``spec``: a CompareSpec's dict; checked now). The finished
        comparison is saved (studio.compare/1) beside the queue; its path is the job's message."""
        from ..core.compare import CompareSpec
        CompareSpec.from_dict(copy.deepcopy(spec))
        job = QueuedJob(title, copy.deepcopy(spec), kind="compare")
        self.jobs.append(job)
        self._save()
        self.kick()
        return job

    def _comparer(self):
        if self._compare is None:
            from .compare.tasks import TaskRunner
            self._compare = TaskRunner(self)
            self._compare.finished.connect(self._compare_finished)
        return self._compare

    def _start_comparison(self, job: QueuedJob) -> None:
        from ..core.compare import CompareSpec, ComparisonRun
        spec = CompareSpec.from_dict(copy.deepcopy(job.pipeline))

        def task(ctx):
            run = ComparisonRun(spec, cancel=ctx.cancel)
            for _res in run:
                pass
            return run.comparison
        job.status, job.message = RUNNING, ""
        self._current = job
        self._save()
        self._comparer().start(f"Queue: {job.title}", task)
        self.jobStarted.emit(job)

    def _compare_finished(self, _name: str, status: str, message: str, comparison) -> None:
        job = self._current
        if status == "finished" and comparison is not None and job is not None:
            folder = os.path.join(os.path.dirname(self.path) if self.path else ".", "comparisons")
            path = os.path.join(folder, f"{time.strftime('%Y%m%d-%H%M%S')}-{job.id}.json")
            try:
                os.makedirs(folder, exist_ok=True)
                comparison.save(path)
                message = path
            except (OSError, StudioError) as exc:
                status, message = "failed", f"cannot save the comparison: {exc}"
        self._finished(status, message, state=None)

    def job(self, job_id: str) -> QueuedJob | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def move(self, job_id: str, delta: int) -> bool:
        """Move a job up (-1) or down (+1) the list."""
        j = self.job(job_id)
        if j is None:
            return False
        i = self.jobs.index(j)
        k = max(0, min(len(self.jobs) - 1, i + delta))
        if k == i:
            return False
        self.jobs.insert(k, self.jobs.pop(i))
        self._save()
        return True

    def cancel(self, job_id: str) -> bool:
        """Cancel a pending job (it stays in the list, marked), or stop the running one."""
        j = self.job(job_id)
        if j is None:
            return False
        if j.status == RUNNING:
            if j.kind == "compare":
                return self._comparer().cancel()
            return self._trainer().cancel() if j.kind == "train" else self.controller.cancel()
        if j.status == PENDING:
            j.status, j.message, j.ended = "cancelled", "cancelled before it ran", time.time()
            self._save()
            return True
        return False

    def remove_done(self) -> int:
        n = len(self.jobs)
        self.jobs = [j for j in self.jobs if j.status not in DONE]
        self._save()
        return n - len(self.jobs)

    def set_paused(self, paused: bool) -> None:
        """Paused: no new job starts (the running one finishes)."""
        self.paused = bool(paused)
        self._save()
        self.kick()

    def pending(self) -> list[QueuedJob]:
        return [j for j in self.jobs if j.status == PENDING]

    @property
    def running(self) -> bool:
        return (self.controller.running or (self._training is not None and self._training.running)
                or (self._compare is not None and self._compare.running))

    def _trainer(self):
        if self._training is None:
            from .training.controller import TrainingController
            self._training = TrainingController(fps=5, parent=self)
            self._training.finished.connect(self._train_finished)
        return self._training

    # -- running -----------------------------------------------------------------------------------
    def kick(self) -> None:
        """Start the first pending job if nothing runs and the queue is not paused."""
        if self.paused or self.running or self.busy_elsewhere():
            return
        job = next(iter(self.pending()), None)
        if job is None:
            return
        if job.kind == "train":
            self._start_training(job)
            return
        if job.kind == "compare":
            try:
                self._start_comparison(job)
            except StudioError as exc:
                job.status, job.message, job.ended = "failed", str(exc), time.time()
                self._current = None
                self._save()
                self.kick()
            return
        try:
            pipe = Pipeline.from_dict(copy.deepcopy(job.pipeline), job.base_dir, job.title)
        except StudioError as exc:
            job.status, job.message, job.ended = "failed", str(exc), time.time()
            self._save()
            self.message.emit("error", f"queue: {job.title}: {exc}")
            self.kick()
            return
        job.status, job.message = RUNNING, ""
        self._current = job
        self._save()
        self.controller.start(pipe, f"Queue: {job.title}")
        self.jobStarted.emit(job)

    def _start_training(self, job: QueuedJob) -> None:
        from ..core.training import TrainConfig
        try:
            cfg = TrainConfig.from_dict(copy.deepcopy(job.pipeline))
        except StudioError as exc:
            job.status, job.message, job.ended = "failed", str(exc), time.time()
            self._save()
            self.kick()
            return
        job.status, job.message = RUNNING, ""
        self._current = job
        self._save()
        why = self._trainer().start(cfg, job.device)
        if why:
            self._train_finished("failed", why)
            return
        self.jobStarted.emit(job)

    def _train_finished(self, status: str, message: str) -> None:
        job = self._current
        if status == "finished" and job is not None:
            message = f"model saved: {message}" if message else message
        self._finished(status, message, state=None)

    def _finished(self, status: str, message: str, state="run") -> None:
        job, self._current = self._current, None
        if job is not None:
            job.status, job.message, job.ended = status, message, time.time()
            self._save()
            level = {"finished": "ok", "cancelled": "warning"}.get(status, "error")
            self.message.emit(level, f"queue: {job.title} {status}" + (
                f": {message.splitlines()[0]}" if message and status != "finished" else ""))
            self.jobFinished.emit(job, self.state if state == "run" else None)
        self.kick()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Stop the running job (the app is closing): it goes back to pending, to run again after
        the restart."""
        job = self._current
        ok = self.controller.shutdown(timeout_ms)
        if self._training is not None:
            ok = self._training.shutdown(timeout_ms) and ok
        if self._compare is not None:
            ok = self._compare.shutdown(timeout_ms) and ok
        if job is not None:
            job.status, job.message = PENDING, ""
            self._save()
        return ok

    # -- persistence -------------------------------------------------------------------------------
    def _save(self) -> None:
        self.changed.emit()
        if not self.path:
            return
        data = {"format": FORMAT, "paused": self.paused, "jobs": [asdict(j) for j in self.jobs]}
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            write_atomic(self.path, json.dumps(data, indent=1))
        except OSError as exc:
            self.message.emit("warning", f"queue: cannot save {self.path}: {exc.strerror or exc}")

    def load(self) -> None:
        if not self.path or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if data.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} file")
            jobs = [QueuedJob.from_dict(d) for d in data.get("jobs", [])]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            self.message.emit("warning", f"queue: cannot read {self.path}: {exc}")
            return
        for j in jobs:
            if j.status == RUNNING:      # the app stopped while it ran: a crash
                j.status, j.message = "interrupted", "the application stopped during this run"
        self.jobs = jobs
        # restored work waits for the user: nothing heavy starts unasked after a restart
        self.paused = bool(data.get("paused")) or bool(self.pending())
        self.changed.emit()

"""Where a comparison's cells run: ``local`` (this thread, step-level progress), ``processes``
(a pool of local worker processes, so one machine's cores are used) or ``ray`` (Ray tasks on a
local or remote Ray cluster, :mod:`.rayexec`).

A remote cell is a task carrying the comparison's spec as JSON (the pipeline inline, its seeds and
run settings, the axes), the optional noise, and the cell's index; the worker rebuilds the cell's
point pipeline exactly as ``studio run`` would and returns the cell's samples, NFE, times and
seconds (:class:`CellOutcome`). References and metrics are computed on the driver in grid order,
so a comparison's table is the same whichever executor ran its cells. Workers run with one torch
thread each (as the tests' driver does), which keeps floating-point reductions identical.

Executors retry a cell whose worker died (up to ``max_retries`` times) and record each retry in
:attr:`Executor.notes`; a cancelled sweep stops its pending and running tasks.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import torch
from torch import Tensor

from ..difffit import frozen, is_fitted
from ..errors import Cancelled, ParamError, StudioError
from ..pipeline import Branch, Built, build_solver
from ..runner import CancelToken

EXECUTORS = ("local", "processes", "ray")


@dataclass
class CellOutcome:
    """What running one cell's sampler gives (before metrics)."""

    index: int
    status: str  # ok | skipped | failed
    message: str = ""
    samples: Optional[Tensor] = None
    nfe: int = 0
    steps: int = 0
    seconds: float = 0.0
    t: Optional[Tensor] = None
    trajectory: Optional[Tensor] = None
    #: which worker ran it ("local", "pid 123", a Ray node) and how many tries it took
    worker: str = "local"
    attempts: int = 1
    #: a fitted cell (optimized / ld3 schedule, bns / amed): the fit's seconds and the solver's
    #: params with the fit written out (difffit.frozen)
    fit_seconds: Optional[float] = None
    fitted_params: Optional[dict] = None


def cell_built(point_built: Built, cell) -> tuple[Built, object]:
    """The point's built pipeline narrowed to this cell's single solver branch."""
    solver = build_solver(cell.solver.kind, cell.solver_params(), f"cell {cell.key!r}")
    b = dataclasses.replace(point_built, solvers={cell.solver.branch: solver},
                            branches=[Branch(cell.solver.branch, cell.solver.guidance)])
    return b, solver


def run_cell(point_built: Built, cell, noise: Tensor | None = None, record: bool = False,
             cancel: CancelToken | None = None, on_step: Callable | None = None) -> CellOutcome:
    """Run one cell through :meth:`Built.runs`, as ``studio run`` runs the cell's pipeline."""
    try:
        cb, solver = cell_built(point_built, cell)
        run = next(cb.runs(noise=noise, record=record, cancel=cancel))
    except ParamError as exc:  # e.g. a budget too small for this solver
        return CellOutcome(cell.index, "skipped", exc.problem)
    run.check_degenerate = False  # low budgets collapse by design; the metrics show it
    try:
        for ev in run:
            if on_step is not None:
                on_step(ev)
    except StudioError as exc:  # NaN/Inf at a step, an adaptive solver over its cap, ...
        return CellOutcome(cell.index, "failed", str(exc), steps=len(run.ts) - 1)
    r = run.result
    out = CellOutcome(cell.index, "ok", "", r.samples, r.nfe, len(r.t) - 1, r.seconds, r.t,
                      r.trajectory if record else None)
    fit = getattr(solver, "fit_info", None) if is_fitted(solver) else None
    if fit is not None:
        out.fit_seconds, out.fitted_params = fit.seconds, frozen(solver, run.model)
    return out


def prior_sample(built: Built, noise: Tensor | None = None) -> Tensor:
    """x_T of a point (the same for every solver of it), as :meth:`Built.runs` draws it."""
    z = built.check_noise(noise) if noise is not None else built.noise()
    return (built.process.prior_std * z.to(torch.float64)).to(device=built.device(),
                                                              dtype=built.settings.torch_dtype())


# -- the worker side (processes and Ray) -----------------------------------------------------------
_WORKER: dict = {}


def spec_key(spec_dict: dict) -> str:
    return hashlib.sha1(json.dumps(spec_dict, sort_keys=True, default=str).encode()).hexdigest()


def worker_cell(payload: dict, index: int) -> CellOutcome:
    """Run cell ``index`` of the comparison in ``payload`` (``spec``: CompareSpec.to_dict(),
    ``noise``, ``record``; optional ``kill_once``). Built points are cached per worker."""
    from .spec import CompareSpec

    torch.set_num_threads(1)
    kill = payload.get("kill_once")
    if kill and kill["index"] == index and not os.path.exists(kill["marker"]):
        # fault injection for the retry tests: this worker dies once, mid-sweep
        with open(kill["marker"], "w") as fh:
            fh.write(str(os.getpid()))
        os._exit(17)
    key = payload.get("key") or spec_key(payload["spec"])
    if _WORKER.get("key") != key:
        _WORKER.clear()
        _WORKER.update(key=key, spec=CompareSpec.from_dict(payload["spec"], "comparison"),
                       built={})
    spec = _WORKER["spec"]
    cell = spec.cells()[index]
    built = _WORKER["built"]
    key = (cell.point, cell.solver.branch if cell.solver.network is not None else None)
    if key not in built:  # one point's pipelines at a time (a row's own network beside)
        if not any(k[0] == cell.point for k in built):
            built.clear()
        built[key] = spec.row_pipeline(cell.point, cell.solver).build()
    noise = payload.get("noise")
    out = run_cell(built[key], cell, noise, bool(payload.get("record")))
    out.worker = f"pid {os.getpid()}"
    return out


# -- executors -------------------------------------------------------------------------------------
class Executor:
    """Runs cells given by index; yields :class:`CellOutcome` s in completion order."""

    name = "local"

    def __init__(self, max_retries: int = 2):
        self.max_retries = max_retries
        #: one line per retried cell (a worker died), for the comparison's notes
        self.notes: list[str] = []
        #: fault injection for tests: {"index": i, "marker": path} kills the worker that runs
        #: cell i the first time (while ``marker`` does not exist)
        self.kill_once: Optional[dict] = None

    def map(self, payload: dict, indices: list[int],
            cancel: CancelToken | None = None) -> Iterator[CellOutcome]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _retry(self, index: int, attempts: dict, why: str) -> None:
        attempts[index] = attempts.get(index, 1) + 1
        if attempts[index] > self.max_retries + 1:
            raise StudioError(f"worker died {attempts[index] - 1} times ({why}); giving up",
                              f"cell {index}")
        self.notes.append(f"cell {index}: worker died ({why}); retried (attempt {attempts[index]})")


def _pool_init():
    torch.set_num_threads(1)


class ProcessExecutor(Executor):
    """A pool of local worker processes (spawned, one torch thread each)."""

    name = "processes"

    def __init__(self, workers: int | None = None, max_retries: int = 2):
        super().__init__(max_retries)
        self.workers = workers or max(1, os.cpu_count() or 1)
        if self.workers < 1:
            raise ParamError("must be a positive integer", "workers")
        self._pool: Optional[ProcessPoolExecutor] = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                   initializer=_pool_init)

    def _kill_pool(self) -> None:
        if self._pool is None:
            return
        procs = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        self._pool = None

    def map(self, payload, indices, cancel=None):
        payload = dict(payload, key=spec_key(payload["spec"]))
        if self.kill_once:
            payload["kill_once"] = self.kill_once
        attempts: dict[int, int] = {}
        todo = list(indices)
        while todo:
            if self._pool is None:
                self._pool = self._new_pool()
            futs = {self._pool.submit(worker_cell, payload, i): i for i in todo}
            todo = []
            broken = None
            pending = set(futs)
            while pending:
                if cancel is not None and cancel.cancelled:
                    self._kill_pool()
                    raise Cancelled("comparison cancelled")
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for f in done:
                    try:
                        out = f.result()
                    except BrokenProcessPool as exc:
                        broken = exc
                        todo.append(futs[f])
                        continue
                    out.attempts = attempts.get(out.index, 1)
                    yield out
            if broken is not None:
                self._kill_pool()
                todo.sort()
                for i in todo:
                    attempts[i] = attempts.get(i, 1) + 1
                    if attempts[i] > self.max_retries + 1:
                        raise StudioError(f"the process pool broke {attempts[i] - 1} times while "
                                          "this cell ran; giving up", f"cell {i}")
                self.notes.append(f"cells {', '.join(map(str, todo))}: a pool worker died (the "
                                  "process pool broke); resubmitted to a new pool")

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def make_executor(name: str | Executor | None, address: str | None = None,
                  workers: int | None = None, max_retries: int = 2) -> Optional[Executor]:
    """``local`` (None: run inline), ``processes`` or ``ray`` (``address`` HOST:PORT, or None for a
    local Ray instance / the one already initialised)."""
    if name is None or isinstance(name, Executor):
        return name
    if name == "local":
        if address:
            raise ParamError("--address goes with --executor ray", "--address")
        return None
    if name == "processes":
        if address:
            raise ParamError("--address goes with --executor ray", "--address")
        return ProcessExecutor(workers, max_retries)
    if name == "ray":
        from .rayexec import RayExecutor
        return RayExecutor(address, max_retries=max_retries, workers=workers)
    raise ParamError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}", "--executor")


__all__ = ["EXECUTORS", "CellOutcome", "Executor", "ProcessExecutor", "make_executor", "run_cell",
           "worker_cell", "prior_sample", "cell_built"]

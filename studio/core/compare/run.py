"""Running a comparison: cells stream out one at a time, cancellable between solver steps.

::

    run = ComparisonRun(spec, cancel=token, on_progress=callback)
    for cell_result in run:          # a CellResult as each cell finishes (reference computed lazily)
        ...
    comparison = run.comparison      # every cell so far, references, floors (also after cancel)

``on_progress`` receives :class:`CompareProgress` events (phase ``"data"``, ``"reference"``,
``"cell"``), the ``"cell"`` ones wrapping the runner's :class:`StepEvent`, so a GUI can show a
progress bar per cell; it is called on the thread that iterates. Cancelling through the
:class:`CancelToken` raises :class:`studio.core.errors.Cancelled` from the iteration between two
steps; the cells finished before stay in :attr:`ComparisonRun.comparison`.

Every cell runs through :meth:`studio.core.pipeline.Built.runs` exactly as ``studio run`` would run
the cell's single-solver pipeline (:meth:`CompareSpec.cell_pipeline`), so results are identical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor

from ..arrays import load_array
from ..errors import Cancelled, ParamError, StudioError
from ..pipeline import Branch, Built, build_solver
from ..runner import CancelToken, StepEvent
from .executors import CellOutcome, Executor, cell_built, make_executor, prior_sample, run_cell
from .metrics import Metric, MetricInput, resolve_metrics
from .reference import ReferenceResult, ReferenceTask, build_reference
from .result import CellResult, Comparison, reference_key
from .spec import Cell, CompareSpec


@dataclass(frozen=True)
class CompareProgress:
    """Progress of a comparison. ``cell`` is None outside the cell phase."""

    phase: str
    done: int
    total: int
    cell: Optional[Cell] = None
    step: Optional[StepEvent] = None
    message: str = ""

    @property
    def fraction(self) -> float:
        inner = self.step.fraction if self.step is not None else 0.0
        return min(1.0, (self.done + inner) / max(self.total, 1))


class ComparisonRun:
    """Iterate to run a comparison; yields one :class:`CellResult` per cell in grid order.

    ``executor``: None / ``"local"`` (cells run here, with per-step progress), ``"processes"``,
    ``"ray"`` or an :class:`~.executors.Executor` (cells run there; progress per finished cell).
    """

    def __init__(self, spec: CompareSpec, *, cancel: CancelToken | None = None,
                 on_progress: Callable[[CompareProgress], None] | None = None,
                 noise: Tensor | None = None, built: Built | None = None,
                 executor: "str | Executor | None" = None, address: str | None = None):
        self.spec = spec
        self.cancel = cancel
        self.on_progress = on_progress
        self.points = spec.points()
        self.built = built or spec.point_pipeline(self.points[0]).build()
        self._built = {self.points[0]: self.built}
        self.metrics: list[Metric] = resolve_metrics(spec.metrics)
        self.reference = build_reference(spec.reference)
        self.cells = spec.cells()
        self._noise = noise
        if noise is not None and any(a.target == "run.batch" for a in spec.axes):
            raise ParamError("fixed noise cannot go with a run.batch axis", "noise")
        self.executor = make_executor(executor, address)
        #: an executor made here from its name is closed after the run; one passed in is the
        #: caller's (it can serve several runs, e.g. a process pool kept warm)
        self._own_executor = not (executor is None or hasattr(executor, "map"))
        self.comparison = Comparison(spec, metrics=self.metrics, reference=self.reference)
        self._shared: dict = {}
        self._started = False

    # -- helpers ------------------------------------------------------------------------------------
    def _emit(self, phase, done, cell=None, step=None, message=""):
        if self.on_progress is not None:
            self.on_progress(CompareProgress(phase, done, len(self.cells), cell, step, message))

    def _check_cancel(self):
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled("comparison cancelled")

    def _point_built(self, point: tuple) -> Built:
        if point not in self._built:
            self._built = {point: self.spec.point_pipeline(point).build()}  # one point at a time
        return self._built[point]

    def _row_built(self, cell: Cell) -> Built:
        """The point's built pipeline, or, for a row with a network of its own, the point's
        pipeline with that network (built once per point)."""
        net = cell.solver.network
        if net is None:
            return self._point_built(cell.point)
        self._point_built(cell.point)  # drops the builds of the previous point
        key = (cell.point, cell.solver.branch)
        if key not in self._built:
            self._built[key] = self.spec.row_pipeline(cell.point, cell.solver).build()
        return self._built[key]

    def _cell_built(self, cell: Cell, where: str) -> tuple[Built, object]:
        return cell_built(self._row_built(cell), cell)

    def _data(self) -> tuple[Optional[Tensor], Optional[Tensor], str]:
        """(data samples for metrics, an independent batch-size draw for floors, where from);
        from the first axis point's network and seed."""
        spec, net, batch = self.spec, self.built.network, self.built.settings.batch
        seed = self.built.settings.seed
        if spec.data is not None:
            arr = load_array(spec.data, "data", spec.pipeline.base_dir)
            shape = tuple(net.data_shape)
            if tuple(arr.shape[1:]) != shape:
                raise ParamError(f"data items have shape {list(arr.shape[1:])}, the network's "
                                 f"data shape is {list(shape)}", "data")
            g = torch.Generator().manual_seed(seed + 7919)
            perm = torch.randperm(len(arr), generator=g)
            x = torch.as_tensor(arr, dtype=torch.float64)[perm]
            if len(x) >= 2 * batch:
                floor, data = x[:batch], x[batch:batch + spec.n_data]
            else:
                floor, data = None, x[:spec.n_data]
            return data, floor, f"{spec.data} ({len(data)} samples)"
        if hasattr(net, "sample") and callable(net.sample):
            g = torch.Generator().manual_seed(seed + 7919)
            data = net.sample(spec.n_data, generator=g).to(torch.float64)
            floor = net.sample(batch, generator=g).to(torch.float64)
            return data, floor, f"{net.id} network samples ({spec.n_data})"
        if hasattr(net, "points"):
            pts = torch.as_tensor(np.asarray(net.points), dtype=torch.float64)
            return pts[:spec.n_data], None, f"the empirical network's points ({min(len(pts), spec.n_data)})"
        return None, None, "none"

    def _info(self, data: Optional[Tensor]) -> dict:
        shape = tuple(self.built.network.data_shape)
        return {"dim": int(np.prod(shape)), "data_shape": shape, "data": data is not None,
                "reference": True, "labels": self.built.settings.labels is not None}

    def _reference(self, cell: Cell, final: bool, ts: Tensor) -> ReferenceResult:
        key = reference_key(ts, final, cell.solver.guidance, cell.point)
        refs = self.comparison.references
        if key not in refs:
            self._emit("reference", cell.index, cell,
                       message=f"reference from t={float(ts[0]):.4g} to {float(ts[-1]):.4g}")
            built = self._point_built(cell.point)
            x_T = prior_sample(built, self._noise)
            den = built.denoiser(Branch(cell.solver.branch, cell.solver.guidance))
            task = ReferenceTask(den, x_T, float(ts[0]), float(ts[-1]), bool(final),
                                 max_nfe=max(self.spec.nfes), seed=built.settings.seed,
                                 cancel=self.cancel)
            refs[key] = self.reference.compute(task)
        return refs[key]

    def _outcomes(self) -> Iterator[CellOutcome]:
        """Every cell's sampler outcome, in grid order (remote ones buffered until their turn)."""
        if self.executor is None:
            for cell in self.cells:
                self._check_cancel()
                self._emit("cell", cell.index, cell, message=f"running {cell.key}")
                on_step = ((lambda ev, c=cell: self._emit("cell", c.index, c, ev))
                           if self.on_progress is not None else None)
                yield run_cell(self._row_built(cell), cell, self._noise, self.spec.record,
                               self.cancel, on_step)
            return
        payload = {"spec": self.spec.to_dict(), "noise": self._noise, "record": self.spec.record}
        ahead: dict[int, CellOutcome] = {}
        nxt = 0
        self._emit("cell", 0, self.cells[0] if self.cells else None,
                   message=f"sending {len(self.cells)} cells to {self.executor.name}")
        try:
            for out in self.executor.map(payload, [c.index for c in self.cells], self.cancel):
                ahead[out.index] = out
                while nxt in ahead:
                    yield ahead.pop(nxt)
                    nxt += 1
        finally:
            if self._own_executor:
                self.executor.close()
            self.comparison.notes.extend(n for n in self.executor.notes
                                         if n not in self.comparison.notes)

    # -- the run ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[CellResult]:
        if self._started:
            raise RuntimeError("a ComparisonRun runs once; make a new one")
        self._started = True
        comp, built = self.comparison, self.built
        self._emit("data", 0, message="drawing data samples")
        data, floor_samples, data_from = self._data()
        comp.data, comp.data_source = data, data_from
        info = self._info(data)
        guided = [built.guidance[s.guidance] for s in self.spec.solvers if s.guidance]
        why = self.reference.unavailable(built.network, guided[0] if guided else None)
        if why is not None:
            raise ParamError(why, "reference")
        comp.unavailable = {m.id: m.unavailable(info) for m in self.metrics
                            if m.unavailable(info) is not None}
        active = [m for m in self.metrics if m.id not in comp.unavailable]
        labels = built.labels()
        seed = built.settings.seed
        for m in active:
            if m.has_floor and floor_samples is not None:
                comp.floors[m.id] = m.compute(MetricInput(floor_samples, None, data,
                                                          labels.cpu() if labels is not None
                                                          else None, shared=self._shared,
                                                          seed=seed))
        for out in self._outcomes():
            cell = self.cells[out.index]
            if out.status != "ok":
                res = CellResult(cell, out.status, out.message, steps=out.steps)
                comp.add(res)
                self._emit("cell", cell.index + 1, cell, message=f"{out.status} {cell.key}")
                yield res
                continue
            pb = self._point_built(cell.point)
            lab = pb.labels()
            samples = out.samples.to(torch.float64)
            ref = None
            if any("reference" in m.needs for m in active):
                final = build_solver(cell.solver.kind, cell.solver_params(), "").denoise_final
                ref = self._reference(cell, final, out.t)
            inp = MetricInput(samples, ref.samples if ref is not None else None, data,
                              lab.cpu() if lab is not None else None, nfe=out.nfe,
                              seconds=out.seconds, shared=self._shared, seed=pb.settings.seed)
            values = {}
            for m in active:
                try:
                    values[m.id] = float(m.compute(inp))
                except (StudioError, ValueError, RuntimeError) as exc:
                    values[m.id] = None
                    comp.notes.append(f"{cell.key}: {m.id} failed ({exc})")
            res = CellResult(cell, "ok", "", samples=out.samples, nfe=out.nfe, steps=out.steps,
                             seconds=out.seconds, metrics=values, t=out.t,
                             trajectory=out.trajectory if self.spec.record else None,
                             fit_seconds=out.fit_seconds, fitted_params=out.fitted_params)
            comp.add(res)
            self._emit("cell", cell.index + 1, cell, message=f"done {cell.key}")
            yield res
        comp.finished = True

    def run(self) -> Comparison:
        for _ in self:
            pass
        return self.comparison


def compare(spec: CompareSpec, **kw) -> Comparison:
    """Run a whole comparison (see :class:`ComparisonRun` for streaming)."""
    return ComparisonRun(spec, **kw).run()


__all__ = ["ComparisonRun", "CompareProgress", "compare"]

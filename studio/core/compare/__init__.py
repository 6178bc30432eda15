"""Solver comparison: a grid of cells (solver x schedule x NFE, crossed by up to three sweep axes
of any kind) run from the same noise, on a chosen executor.

* :mod:`.spec` - :class:`CompareSpec` (what to run) and the grid's :class:`Cell` s.
* :mod:`.axes` - sweep axes: node parameters, run settings, swapped nodes.
* :mod:`.executors` / :mod:`.rayexec` - where cells run: local, processes, ray.
* :mod:`.run` - :class:`ComparisonRun`, which streams a :class:`CellResult` per cell, cancellable.
* :mod:`.reference` - reference endpoints (registered: closed-form, adaptive, solver, auto).
* :mod:`.metrics` - metrics (registered plugins: rmse, swd, mmd, nfe, ms-per-sample, ...).
* :mod:`.judges` - the hook for trained classifiers (classifier accuracy, Frechet distance).
* :mod:`.result` - :class:`Comparison`: the table (CSV/JSON) and the ``studio.compare/1`` file.
"""
from .metrics import METRICS, Metric, MetricInput
from .reference import REFERENCES, Reference
from .result import FORMAT, CellResult, Comparison
from .run import CompareProgress, ComparisonRun, compare
from .axes import Axis, parse_axis
from .spec import Cell, CompareSpec, ScheduleEntry, SolverEntry, parse_schedule, parse_solver

__all__ = ["CompareSpec", "Cell", "SolverEntry", "ScheduleEntry", "parse_solver", "parse_schedule",
           "ComparisonRun", "CompareProgress", "compare", "Comparison", "CellResult", "FORMAT",
           "METRICS", "Metric", "MetricInput", "REFERENCES", "Reference", "Axis", "parse_axis"]

"""The comparison being looked at: its spec, its results as they stream in, the selected cell.

:class:`CompareSession` is the model the workspace's views observe. It runs a
:class:`studio.core.compare.ComparisonRun` in a worker thread (:class:`TaskRunner`), keeps a
UI-side :class:`Comparison` that grows cell by cell (the worker never shares a mutable object
with the UI thread: each cell arrives with a snapshot of the floors, references and data), and
opens, saves and exports comparisons with the same code as ``studio compare``.
"""
from __future__ import annotations

import json
import os
from typing import Optional

from PySide6.QtCore import QObject, Signal

from ...core.compare import Comparison, CompareSpec, ComparisonRun
from ...core.pipeline import write_atomic
from .tasks import TaskContext, TaskRunner


def _snapshot(comp: Comparison) -> dict:
    """What the UI mirror copies from the worker's comparison (taken in the worker thread)."""
    return {"floors": dict(comp.floors), "unavailable": dict(comp.unavailable),
            "references": dict(comp.references), "notes": list(comp.notes),
            "data": comp.data, "data_source": comp.data_source}


def progress_text(ev) -> str:
    """One line for a CompareProgress event."""
    if ev.phase == "cell" and ev.cell is not None:
        head = f"cell {min(ev.done + 1, ev.total)}/{ev.total}: {ev.cell.key}"
        if ev.step is not None:
            return f"{head} — step {ev.step.index}/{ev.step.steps}, NFE {ev.step.nfe}"
        return head
    return ev.message or ev.phase


class CompareSession(QObject):
    reset = Signal()                 # a new comparison (grid shape may change)
    cellsAdded = Signal(list)        # cell indices that just finished
    progress = Signal(float, str)
    started = Signal()
    finished = Signal(str, str)      # status (finished, cancelled, failed), message
    selectionChanged = Signal(int)   # cell index, -1 for none
    pathChanged = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.comparison: Optional[Comparison] = None
        self.selected = -1
        self.path: Optional[str] = None
        self.status = "empty"        # empty, running, finished, cancelled, failed, loaded
        self.runner = TaskRunner(self)
        self.runner.items.connect(self._on_items)
        self.runner.progress.connect(self.progress)
        self.runner.finished.connect(self._on_finished)

    # -- state ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def spec(self) -> Optional[CompareSpec]:
        return self.comparison.spec if self.comparison is not None else None

    def has_results(self) -> bool:
        return self.comparison is not None and bool(self.comparison.results)

    def select(self, index: int) -> None:
        if self.comparison is None or not 0 <= index < len(self.comparison.cells):
            index = -1
        if index != self.selected:
            self.selected = index
            self.selectionChanged.emit(index)

    def selected_result(self):
        if self.comparison is None or self.selected < 0:
            return None
        return self.comparison.results.get(self.selected)

    # -- running -------------------------------------------------------------------------------
    def start(self, spec: CompareSpec, noise=None, executor: str | None = None,
              address: str | None = None) -> bool:
        """Run ``spec`` in the background (cells on ``executor``: local, processes, ray);
        False if a comparison is already running."""
        if self.running:
            return False

        def task(ctx: TaskContext):
            run = ComparisonRun(spec, cancel=ctx.cancel, noise=noise, executor=executor,
                                address=address,
                                on_progress=lambda ev: ctx.progress(ev.fraction, progress_text(ev)))
            for res in run:
                ctx.emit((res, _snapshot(run.comparison)))
            return run.comparison

        self.comparison = Comparison(spec)
        self.selected = -1
        self.path = None
        self.status = "running"
        self.runner.start("comparison", task)
        self.pathChanged.emit("")
        self.reset.emit()
        self.started.emit()
        return True

    def cancel(self) -> bool:
        return self.runner.cancel()

    def _apply(self, snap: dict) -> None:
        comp = self.comparison
        comp.floors, comp.unavailable = snap["floors"], snap["unavailable"]
        comp.references, comp.notes = snap["references"], snap["notes"]
        comp.data, comp.data_source = snap["data"], snap["data_source"]

    def _on_items(self, items: list) -> None:
        if self.comparison is None:
            return
        added = []
        for res, snap in items:
            self._apply(snap)
            self.comparison.add(res)
            added.append(res.cell.index)
        self.cellsAdded.emit(added)

    def _on_finished(self, name: str, status: str, message: str, result) -> None:
        if status == "finished" and result is not None:
            # the worker is done with it: its comparison is complete and final
            self.comparison = result
        self.status = status
        self.finished.emit(status, message)

    # -- files ---------------------------------------------------------------------------------
    def load(self, path: str) -> None:
        """Open a ``studio.compare/1`` file (raises StudioError, changing nothing, if bad)."""
        if self.running:
            raise RuntimeError("a comparison is running")
        comp = Comparison.load(path)
        self.comparison = comp
        self.selected = -1
        self.status = "loaded"
        self.path = os.path.abspath(path)
        self.pathChanged.emit(self.path)
        self.reset.emit()
        self.cellsAdded.emit(sorted(comp.results))

    def save(self, path: str, include_samples: bool = True) -> None:
        self.comparison.save(path, include_samples)
        self.path = os.path.abspath(path)
        self.pathChanged.emit(self.path)

    def export_csv(self, path: str) -> None:
        write_atomic(path, self.comparison.table_csv())

    def export_json(self, path: str) -> None:
        write_atomic(path, json.dumps(self.comparison.table_dict(), indent=2) + "\n")

    def export_grid(self, path: str) -> None:
        from ...render.compare_plots import save_grid

        with _pg_config():
            save_grid(self.comparison, path)

    def export_error_plot(self, path: str) -> None:
        from ...render.compare_plots import save_error_vs_nfe

        with _pg_config():
            save_error_vs_nfe(self.comparison, path)

    def export_folder(self, folder: str) -> list[str]:
        """Everything ``studio compare --out FOLDER`` writes, by the same function."""
        from ...render.compare_outputs import write_outputs

        with _pg_config():
            return write_outputs(self.comparison, folder, quiet=True)


class _pg_config:
    """The render module sets pyqtgraph's global colours for its white figures; put the app's back
    afterwards so views created later keep the dark look."""

    KEYS = ("background", "foreground", "antialias")

    def __enter__(self):
        import pyqtgraph as pg

        self.saved = {k: pg.getConfigOption(k) for k in self.KEYS}

    def __exit__(self, *exc):
        import pyqtgraph as pg

        pg.setConfigOptions(**self.saved)
        return False

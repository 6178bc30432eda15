"""The Comparison workspace: set-up form, grid of final samples, error-vs-NFE plot, table.

Runs in the background with progress and cancel; cells stream into the grid, the plot and the
table as they finish. A cell opens in the trajectory view (double-click, Enter, or the button):
its single-solver pipeline (:meth:`CompareSpec.cell_pipeline`) runs through the main window's
run controller as a branch of its own, so the trajectory view replays exactly that cell, and the
canvas is left as it was. Exports are the files of ``studio compare`` (same code).
"""
from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMenu, QProgressBar, QPushButton,
                               QScrollArea, QSplitter, QToolButton, QVBoxLayout, QWidget)

from ...core.errors import StudioError
from ..elide import shrinkable_combos
from .errorplot import ErrorPlot
from .grid import CompareGrid
from .session import CompareSession
from .setup import CompareSetup
from .table import CompareTable

COMPARE_FILTER = "Comparisons (*.json);;All files (*)"


class CompareWorkspace(QWidget):
    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self.session = CompareSession(self)
        self.setup = CompareSetup(window.doc)
        self.setup.axes_box.bind_settings(window.settings)
        shrinkable_combos(self.setup)          # the form fits its pane: nothing clipped
        self.opened_cell = -1

        scroll = QScrollArea()
        scroll.setWidget(self.setup)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        self.run_button = QPushButton("Compare")
        self.run_button.setToolTip("Run every cell (solver x schedule x NFE) from the same noise")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current solver step; finished cells stay")
        self.from_doc_button = QPushButton("From pipeline")
        self.from_doc_button.setToolTip("Take the solvers, seed and batch of the current pipeline")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.status = QLabel("ready")
        self.status.setStyleSheet("color: #9aa4ae;")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.from_doc_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.run_button)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 4)
        lv.addWidget(scroll, 1)
        lv.addLayout(buttons)
        lv.addWidget(self.progress)
        lv.addWidget(self.status)

        self.grid = CompareGrid(self.session)
        self.plot = ErrorPlot(self.session)
        self.table = CompareTable(self.session)
        self.title = QLabel("<b>No comparison yet</b>")
        self.title.setTextFormat(Qt.RichText)
        # wraps rather than pushing the buttons beside it out of the window
        self.title.setWordWrap(True)
        self.title.setMinimumWidth(160)
        self.open_button = self._tool("Open…", self.open_dialog, "Open a saved comparison "
                                      "(studio.compare/1, e.g. comparison.json of studio compare)")
        self.save_button = self._tool("Save…", self.save_dialog, "Save the whole comparison "
                                      "(spec, table, samples) to reopen later")
        self.export_button = self._tool("Export", None, "Grid PNG, plot PNG, table CSV / JSON, "
                                        "or every file of `studio compare --out`")
        menu = QMenu(self.export_button)
        self.export_actions = [
            menu.addAction("Grid as PNG…", lambda: self._export("grid", "grid.png", "PNG (*.png)")),
            menu.addAction("Error vs NFE as PNG…",
                           lambda: self._export("plot", "error_vs_nfe.png", "PNG (*.png)")),
            menu.addAction("Table as CSV…", lambda: self._export("csv", "table.csv", "CSV (*.csv)")),
            menu.addAction("Table as JSON…",
                           lambda: self._export("json", "table.json", "JSON (*.json)")),
            menu.addAction("Everything to a folder…", self.export_folder_dialog)]
        self.export_button.setMenu(menu)
        self.export_button.setPopupMode(QToolButton.InstantPopup)
        # the menu arrow drawn over the text read "Export," : the arrow is in the text instead
        self.export_button.setText("Export ▾")
        self.export_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.open_cell_button = self._tool("Open cell in trajectories", self._open_selected,
                                           "Replay the selected cell step by step in the "
                                           "trajectory view (double-click a cell, or Enter)")
        self.use_button = self._tool("Use in pipeline", self._use_selected,
                                     "Set the pipeline's solver to the selected cell's solver, "
                                     "schedule and budget (undoable); a fitted cell's times and "
                                     "coefficients go with it, so runs reuse the fit")
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.addWidget(self.title, 1)
        for b in (self.open_cell_button, self.use_button, self.open_button, self.save_button,
                  self.export_button):
            bar.addWidget(b)

        lower = QSplitter(Qt.Horizontal)
        lower.addWidget(self.plot)
        lower.addWidget(self.table)
        lower.setSizes([520, 620])
        right_split = QSplitter(Qt.Vertical)
        right_split.addWidget(self.grid)
        right_split.addWidget(lower)
        right_split.setSizes([560, 300])
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addLayout(bar)
        rv.addWidget(right_split, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 1100])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.from_doc_button.clicked.connect(self.setup.from_document)
        self.grid.openRequested.connect(self.open_cell)
        s = self.session
        s.progress.connect(self._progress)
        s.finished.connect(self._finished)
        s.reset.connect(self._sync)
        s.cellsAdded.connect(lambda _i: self._sync())
        s.selectionChanged.connect(lambda _i: self._sync())
        self._closer = _StopOnClose(self.session)
        window.installEventFilter(self._closer)
        self._sync()

    def _tool(self, text, slot, tip) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setToolButtonStyle(Qt.ToolButtonTextOnly)
        if slot is not None:
            b.clicked.connect(slot)
        return b

    # -- running -------------------------------------------------------------------------------
    def run(self) -> bool:
        if self.session.running:
            self.window.log.warning("a comparison is already running: wait for it or cancel it")
            return False
        try:
            spec = self.setup.build_spec()
        except StudioError as exc:
            self.window.report("Cannot compare", str(exc))
            return False
        executor, address = self.setup.axes_box.choice()
        self.session.start(spec, executor=executor, address=address)
        n = len(spec.cells())
        self.window.log.info(f"comparison: {n} cells ({len(spec.row_labels())} rows x "
                             f"{len(spec.nfes)} NFE budgets), batch {spec.pipeline.run.batch}, "
                             f"seed {spec.pipeline.run.seed}")
        self._sync()
        return True

    def cancel(self) -> None:
        if self.session.cancel():
            self.status.setText("cancelling after the current step…")

    def _progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(round(1000 * fraction)))
        self.status.setText(text)

    def _finished(self, status: str, message: str) -> None:
        comp = self.session.comparison
        done = len(comp.results) if comp is not None else 0
        total = len(comp.cells) if comp is not None else 0
        if status == "finished":
            self.progress.setValue(1000)
            bad = [r for r in comp.results.values() if not r.ok]
            extra = f", {len(bad)} skipped or failed" if bad else ""
            self.status.setText(f"done: {done} cells{extra}")
            self.window.log.ok(f"comparison finished: {done} cells{extra}")
            for mid, why in comp.unavailable.items():
                self.window.log.info(f"comparison: {mid} not computed ({why})")
        elif status == "cancelled":
            self.status.setText(f"cancelled: {done} of {total} cells finished")
            self.window.log.warning(f"comparison cancelled ({done} of {total} cells finished)")
        else:
            self.status.setText("failed")
            self.window.report("Comparison failed", message)
        self._sync()

    # -- state of the controls -------------------------------------------------------------------
    def _sync(self) -> None:
        s = self.session
        running = s.running
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(not running)
        has = s.has_results()
        self.save_button.setEnabled(has and not running)
        self.export_button.setEnabled(has and not running)
        res = s.selected_result()
        self.open_cell_button.setEnabled(res is not None and res.status != "skipped")
        self.use_button.setEnabled(res is not None and res.ok)
        comp = s.comparison
        if comp is None:
            self.title.setText("<b>No comparison yet</b> — tick solvers, give NFE budgets, "
                               "press Compare")
            return
        pipe = comp.spec.pipeline
        name = os.path.basename(s.path) if s.path else (pipe.source or "pipeline").rsplit("/", 1)[-1]
        ref = comp.reference_summary()["methods"]
        self.title.setText(f"<b>{name}</b> · {len(comp.results)}/{len(comp.cells)} cells · batch "
                           f"{pipe.run.batch} · seed {pipe.run.seed}"
                           + (f" · <span style='color:#9aa4ae'>reference: {ref[0]}</span>"
                              if ref else ""))

    # -- cells -----------------------------------------------------------------------------------
    def _open_selected(self) -> None:
        if self.session.selected >= 0:
            self.open_cell(self.session.selected)

    def open_cell(self, index: int) -> bool:
        """Run the cell's own pipeline in the trajectory view (the canvas is left as it is)."""
        comp, win = self.session.comparison, self.window
        if comp is None or not 0 <= index < len(comp.cells):
            return False
        cell = comp.cells[index]
        res = comp.results.get(index)
        if res is not None and res.status == "skipped":
            win.report("Cannot open the cell", f"{cell.key}: {res.message}")
            return False
        if win.controller.running:
            win.report("Cannot open the cell", "a run is in progress in the trajectory view: "
                       "wait for it or cancel it (Esc)")
            return False
        try:
            pipe = comp.spec.cell_pipeline(cell)
        except StudioError as exc:
            win.report("Cannot open the cell", str(exc))
            return False
        win.controller.start(pipe)
        win.progress.begin()
        win.cancel_action.setEnabled(True)
        win.show_results()
        self.opened_cell = index
        win.log.info(f"trajectories of cell {cell.key} (its own pipeline, same noise: batch "
                     f"{pipe.run.batch}, seed {pipe.run.seed})")
        return True

    def _use_selected(self) -> None:
        if self.session.selected >= 0:
            self.use_cell_solver(self.session.selected)

    def use_cell_solver(self, index: int) -> str | None:
        """Make the pipeline's solver the cell's (kind, params, schedule, budget); undoable.
        A pipeline with several solvers gets a new solver node next to them."""
        comp, doc = self.session.comparison, self.window.doc
        cell = comp.cells[index]
        res = comp.results.get(index)  # a fitted cell's explicit times/coefficients: no refit
        params = (res.fitted_params if res is not None and res.fitted_params
                  else cell.solver_params())
        solvers = doc.of_type("solver")
        if len(solvers) == 1:
            doc.set_kind(solvers[0], cell.solver.kind, params)
            nid = solvers[0]
        else:
            src = (cell.solver.guidance if cell.solver.guidance in doc.nodes
                   else (doc.of_type("network") or [None])[0])
            if src is None:
                self.window.report("Cannot use the solver", "the pipeline has no network")
                return None
            x, y = doc.nodes[src].pos
            nid = doc.add_node("solver", cell.solver.kind, params, (x + 270, y + 190 * len(solvers)))
            doc.link(src, nid)
        self.window.log.ok(f"pipeline solver {nid!r} is now {cell.key}")
        return nid

    # -- files ---------------------------------------------------------------------------------
    def _folder(self) -> str:
        return os.path.dirname(self.session.path) if self.session.path else (
            self.window.doc.base_dir or os.getcwd())

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open comparison", self._folder(), COMPARE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        if self.session.running:
            self.window.report("Cannot open", "a comparison is running: cancel it first")
            return False
        try:
            self.session.load(path)
        except (StudioError, OSError) as exc:
            self.window.report("Cannot open comparison", str(exc))
            return False
        self.setup.from_spec(self.session.spec)
        self.status.setText(f"opened {os.path.basename(path)}")
        self.progress.setValue(1000 if self.session.comparison.finished else 0)
        self.window.log.ok(f"opened comparison {path}")
        self._sync()
        return True

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison", os.path.join(
            self._folder(), "comparison.json"), COMPARE_FILTER)
        if path:
            self.save_path(path)

    def save_path(self, path: str) -> bool:
        return self._write(lambda: self.session.save(path), path)

    def export_path(self, what: str, path: str) -> bool:
        s = self.session
        fn = {"grid": s.export_grid, "plot": s.export_error_plot, "csv": s.export_csv,
              "json": s.export_json}[what]
        return self._write(lambda: fn(path), path)

    def _export(self, what: str, name: str, filt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", os.path.join(self._folder(), name), filt)
        if path:
            self.export_path(what, path)

    def export_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the comparison to a folder",
                                                  self._folder())
        if folder:
            self._write(lambda: self.session.export_folder(folder), folder)

    def _write(self, fn, path: str) -> bool:
        if not self.session.has_results():
            self.window.report("Nothing to save", "run or open a comparison first")
            return False
        try:
            fn()
        except (OSError, StudioError, ValueError) as exc:
            self.window.report("Cannot save", f"{path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.window.log.ok(f"saved {path}")
        return True


class _StopOnClose(QObject):
    """Stops a running comparison when the main window closes (not when it is minimised)."""

    def __init__(self, session: CompareSession):
        super().__init__(session)
        self.session = session

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Hide and not event.spontaneous() and self.session.running:
            self.session.runner.shutdown()
        return False

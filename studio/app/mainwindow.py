"""The main window: a composition of the panels around one pipeline document and one run.

State lives in the document (:class:`PipelineDocument`), the run state (:class:`RunState`) and the
log (:class:`LogModel`); the panels observe them. The window wires actions (menus, shortcuts,
toolbar) to those and reports problems in the log, the status bar and, for failed runs, a dialog.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QMainWindow, QMessageBox, QSplitter,
                               QStyle)

from ..core.errors import StudioError
from .browser import ModelBrowser
from .document import PipelineDocument
from .editor.palette import Palette
from .elide import StatusBar
from .extensions import install_all as install_extensions
from .editor.scene import NodeScene
from .editor.view import NodeView
from .inspector import Inspector
from .log import LogModel, LogView
from .menus import build_menus
from .preview import PreviewService
from .resources import is_shipped
from .runbar import RunProgress, RunToolbar
from .runstate import RunState
from .settings import AppSettings
from .views.panel import TrajectoryPanel
from .worker import RunController
from .workspaces import EDITOR_DOCKS, DockMap, Provided, Workspaces

FILE_FILTER = "Pipelines (*.json);;All files (*)"


def _num_classes(entry) -> int:
    """The classes a catalog model conditions on (0: unconditional; unknown counts as 0)."""
    try:
        c = entry.card()
    except Exception:  # noqa: BLE001 - a card that cannot be read tells nothing
        return 0
    n = c.get("num_classes", (c.get("conditioning") or {}).get("num_classes", 0))
    try:
        return int(n or 0)
    except (TypeError, ValueError):
        return 0


class MainWindow(QMainWindow):
    runFinished = Signal(str, str)      # status, message
    closing = Signal()                  # the window is closing for good (after any save prompt)
    # workspaces that extensions provide, built when first shown or read (see Provided)
    compare = Provided()                # CompareWorkspace (extensions/compare.py)
    diagnostics = Provided()            # DiagnosticsPanel (extensions/diagnostics.py)
    inverse_panel = Provided()          # InversePanel (extensions/inverse.py)
    training_panel = Provided()         # TrainingPanel (extensions/training.py)
    edit_panel = Provided()             # EditPanel, points (extensions/edit.py)
    edit_digits = Provided()            # DigitEditPanel, images (extensions/edit.py)

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.settings = AppSettings(settings)
        self.ask_to_save = True          # automation and tests turn this off
        self.show_dialogs = True
        self.error_box: QMessageBox | None = None
        self.log = LogModel(self)
        self.doc = PipelineDocument(self)
        self.state = RunState()
        self.controller = RunController(self.state, parent=self)
        self.preview = PreviewService(self)

        self.scene = NodeScene(self.doc, self)
        self.view = NodeView(self.scene)
        self.workspaces = Workspaces(self)
        self.setCentralWidget(self.workspaces.stack)
        self.inspector = Inspector(self.doc)
        self.browser = ModelBrowser(self.settings)
        self.palette = Palette()
        self.panel = TrajectoryPanel(self.state)
        self.log_view = LogView(self.log)

        self._make_actions()
        self.docks = DockMap(self.workspaces)
        # the Pipeline workspace: the node canvas above the trajectories of the last run
        self.pipeline_split = QSplitter(Qt.Vertical)
        self.pipeline_split.setObjectName("pipelineSplit")
        self.pipeline_split.addWidget(self.view)
        self.pipeline_split.addWidget(self.panel)
        self.pipeline_split.setStretchFactor(0, 2)
        self.pipeline_split.setStretchFactor(1, 3)
        self.add_workspace("pipeline", "Pipeline", self.pipeline_split, docks=EDITOR_DOCKS,
                           tip="Build the pipeline on the canvas, run it and watch its trajectories")
        self._dock("browser", "Models", self.browser, Qt.LeftDockWidgetArea)
        self._dock("palette", "Nodes", self.palette, Qt.LeftDockWidgetArea)
        self.tabifyDockWidget(self.docks["browser"], self.docks["palette"])
        self.docks["browser"].raise_()
        self._dock("inspector", "Inspector", self.inspector, Qt.RightDockWidgetArea)
        self._dock("log", "Log", self.log_view, Qt.RightDockWidgetArea)
        self.extra_menu_actions: dict[str, list[QAction]] = {}
        # What the extensions (studio/app/extensions) provide, declared here so that the window and
        # the other extensions test for None instead of looking attributes up: each stays None
        # when its extension is absent or failed to install.
        # (compare, diagnostics, inverse_panel, training_panel, edit_panel, edit_digits: the
        # class's Provided attributes, None until an extension fills them)
        self.job_queue = None                # JobQueue (extensions/queue.py)
        self.comfort = None                  # Comfort: gallery, settings, autosave (comfort/)
        self.jump_map = None                 # JumpMapView, made on first use (extensions/flowmap.py)
        self.examples_gallery_action: QAction | None = None   # File > Examples > gallery (comfort)
        install_extensions(self)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.addToolBar(self.workspaces.toolbar)
        self.addToolBarBreak()
        self.toolbar = RunToolbar(self.doc, self.run_action, self.cancel_action, self)
        self.addToolBar(self.toolbar)
        # the run settings belong to the pipeline: their toolbar shows on its workspace only
        self.workspaces.changed.connect(lambda n: self.toolbar.setVisible(n == "pipeline"))
        self.setStatusBar(StatusBar())
        self.progress = RunProgress(self.cancel_action)
        self.statusBar().addPermanentWidget(self.progress)
        build_menus(self)

        self._connect()
        self.resize(1280, 800)
        self._default_sizes()
        self.settings.restore_layout(self)
        self.workspaces.restore(self.settings)
        self.setAcceptDrops(True)
        self._title()
        self._request_preview()
        self.log.info("Ready. Press Run (Ctrl+R) to sample the pipeline on the canvas.")

    # -- construction --------------------------------------------------------------------------
    def _dock(self, name: str, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def add_workspace(self, name: str, title: str, widget, docks=(), tip: str = ""):
        """Register a full-page workspace (a tab of the mode bar); ``docks`` names the shared
        docks it shows ("browser", "palette", "inspector", "log"). Returns its page."""
        return self.workspaces.add(name, title, widget, docks, tip)

    def add_panel(self, name: str, title: str, widget, area=Qt.BottomDockWidgetArea,
                  tabify_with: str | None = None):
        """Add a panel (for :mod:`studio.app.extensions`): one for the bottom area (where the
        workspaces used to dock) becomes a full-page workspace, any other a dock."""
        if area == Qt.BottomDockWidgetArea:
            return self.add_workspace(name, title, widget)
        dock = self._dock(name, title, widget, area)
        if tabify_with is not None and tabify_with in self.docks:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
            self.docks[tabify_with].raise_()
        return dock

    def add_menu_action(self, menu_title: str, action: QAction) -> None:
        """Queue an action for a top-level menu (created if it does not exist)."""
        self.extra_menu_actions.setdefault(menu_title, []).append(action)

    def _default_sizes(self) -> None:
        self.resizeDocks([self.docks["browser"], self.docks["inspector"]], [270, 330], Qt.Horizontal)
        self.pipeline_split.setSizes([300, 420])
        self.resizeDocks([self.docks["inspector"], self.docks["log"]], [560, 260], Qt.Vertical)

    def _action(self, text: str, slot, shortcut=None, icon=None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        if icon is not None:
            act.setIcon(self.style().standardIcon(icon))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    def _make_actions(self) -> None:
        a = self._action
        self.new_action = a("&New", self.new, QKeySequence.New, tip="A new pipeline (the default one)")
        self.open_action = a("&Open…", self.open_dialog, QKeySequence.Open)
        self.save_action = a("&Save", self.save, QKeySequence.Save)
        self.save_as_action = a("Save &As…", self.save_as, QKeySequence.SaveAs)
        self.quit_action = a("&Quit", self.close, QKeySequence.Quit)
        self.undo_action = self.doc.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.Undo)
        self.redo_action = self.doc.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence.Redo, QKeySequence("Ctrl+Shift+Z")])
        self.copy_action = a("&Copy", self.view.copy, QKeySequence.Copy)
        self.paste_action = a("&Paste", lambda: self.view.paste(), QKeySequence.Paste)
        self.delete_action = a("&Delete", self.scene.delete_selection, QKeySequence.Delete)
        self.select_all_action = a("Select &all", lambda: self.scene.select(list(self.doc.nodes)),
                                   QKeySequence.SelectAll)
        self.run_action = a("&Run", self.run, QKeySequence("Ctrl+R"), QStyle.SP_MediaPlay,
                            "Run every solver branch of the pipeline (Ctrl+R)")
        self.cancel_action = a("&Cancel", self.cancel, QKeySequence("Esc"), QStyle.SP_MediaStop,
                               "Stop the run after the current step (Esc)")
        self.cancel_action.setEnabled(False)
        self.fit_action = a("&Fit to view", self.view.fit, QKeySequence("Ctrl+0"))
        self.zoom_in_action = a("Zoom &in", lambda: self.view.zoom(1.2), QKeySequence.ZoomIn)
        self.zoom_out_action = a("Zoom &out", lambda: self.view.zoom(1 / 1.2), QKeySequence.ZoomOut)
        self.export_png_action = a("Export view as &PNG…", self.export_png)
        self.export_npz_action = a("Export run as &NPZ…", self.export_npz)
        self.reset_layout_action = a("Reset &layout", self.reset_layout)

    def _connect(self) -> None:
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.linkRefused.connect(self._link_refused)
        self.scene.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.view.nodesAdded.connect(lambda ids: self.log.info(f"added {', '.join(ids)}"))
        self.palette.addRequested.connect(lambda t, k: self.view.add_node(t, k))
        self.browser.useRequested.connect(self.use_model)
        self.doc.undo_stack.cleanChanged.connect(self._title)
        self.doc.pathChanged.connect(self._title)
        self.doc.changed.connect(self._request_preview)
        self.controller.started.connect(self.panel.on_started)
        self.controller.updated.connect(self._run_updated)
        self.controller.finished.connect(self._run_finished)
        self.preview.ready.connect(self.panel.set_preview)
        self.panel.png_button.clicked.connect(self.export_png)
        self.panel.npz_button.clicked.connect(self.export_npz)

    # -- documents -----------------------------------------------------------------------------
    def _title(self, *_):
        mark = "" if self.doc.undo_stack.isClean() else " •"
        self.setWindowTitle(f"{self.doc.title}{mark} — Diffusion Studio")

    def maybe_save(self) -> bool:
        """True if it is fine to discard the current document (asks to save unsaved changes)."""
        if not self.ask_to_save or self.doc.undo_stack.isClean():
            return True
        ans = QMessageBox.question(self, "Unsaved changes", f"Save changes to {self.doc.title}?",
                                   QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
        if ans == QMessageBox.Save:
            return self.save()
        return ans == QMessageBox.Discard

    def new(self) -> None:
        if self.maybe_save():
            self.doc.new()
            self.view.fit()
            self.log.info("new pipeline")

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open pipeline", self._folder(), FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Open a pipeline file; on error report it and leave the canvas as it was."""
        if path.lower().endswith(".png"):   # an image with its pipeline embedded (gallery export)
            from .comfort.pngio import open_png
            return open_png(self, path)
        try:
            self.doc.load(path)
        except StudioError as exc:
            self.report("Cannot open pipeline", str(exc))
            return False
        self.settings.add_recent(path)
        self.view.fit()
        self.log.ok(f"opened {path}")
        self.menus.refresh_recent()
        return True

    def save(self) -> bool:
        if self.doc.path is None or is_shipped(self.doc.path):
            return self.save_as()      # a shipped example is never overwritten
        return self.save_to(self.doc.path)

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save pipeline", os.path.join(
            self._save_folder(), self.doc.title), FILE_FILTER)
        return self.save_to(path) if path else False

    def _save_folder(self) -> str:
        """Where Save As starts: the document's folder, or for a shipped file (an example) the
        user's pipelines folder in the app's data folder."""
        if self.doc.base_dir and not is_shipped(self.doc.path or self.doc.base_dir):
            return self.doc.base_dir
        from .comfort.paths import sub_dir
        return str(sub_dir(self.settings.q, "pipelines"))

    def save_to(self, path: str) -> bool:
        if is_shipped(path):
            self.report("Cannot save", f"{path}: a file that ships with Diffusion Studio is "
                        "never overwritten: save under another name (File > Save As)")
            return False
        old = self.doc.base_dir
        if old and os.path.abspath(os.path.dirname(path)) != os.path.abspath(old):
            # the data files a node names relative to the old folder stay found from the new one
            from .comfort.pngio import relocate
            copied: list[str] = []
            try:
                for node in self.doc.nodes.values():
                    node.params = relocate(node.params, old, os.path.dirname(path) or ".", copied)
            except OSError as exc:
                self.report("Cannot save", f"{path}: cannot copy a data file beside it: "
                            f"{exc.strerror or exc}")
                return False
            if copied:
                self.log.info("copied beside the pipeline: " + ", ".join(
                    os.path.basename(c) for c in copied))
        try:
            self.doc.save(path)
        except OSError as exc:
            self.report("Cannot save", f"{path}: {exc.strerror or exc}")
            return False
        self.settings.add_recent(path)
        self.menus.refresh_recent()
        problem = self.doc.problem()
        if problem:
            self.log.warning(f"saved {path}, but `studio run` will refuse it as it stands: {problem}")
        else:
            self.log.ok(f"saved {path}")
        return True

    def _folder(self) -> str:
        return self.doc.base_dir or os.getcwd()

    def use_model(self, entry) -> None:
        """Use a catalog model as the pipeline's network (undoable); a classifier becomes the
        classifier of a classifier guidance node."""
        node = entry.network_node()
        if node["type"] == "guidance":
            self.use_classifier(entry.title, node)
            return
        nets = self.doc.of_type("network")
        if len(nets) == 1:
            drop = self.doc.run.labels is not None and not _num_classes(entry)
            self.doc.undo_stack.beginMacro(f"Use {entry.title}")
            try:
                self.doc.set_kind(nets[0], node["kind"], node.get("params"))
                if drop:       # labels an unconditional model cannot use: gone in the same edit
                    self.doc.set_run("labels", None)
            finally:
                self.doc.undo_stack.endMacro()
            self.scene.select(nets[0:1])
            self.log.info(f"network is now “{entry.title}”" + (
                "; it is unconditional, so the labels were dropped (Ctrl+Z brings both back)"
                if drop else ""))
        else:
            self.view.add_node("network", node["kind"], node.get("params"))

    def use_classifier(self, title: str, node: dict) -> None:
        """Guide with a classifier: set it on the classifier guidance nodes, or put a new one
        between the network and every solver it feeds directly (one undoable edit)."""
        doc = self.doc
        guides = [g for g in doc.of_type("guidance") if doc.nodes[g].kind == node["kind"]]
        doc.undo_stack.beginMacro(f"Guide with {title}")
        try:
            for g in guides:
                doc.set_param(g, "classifier", node["params"]["classifier"])
            nets = doc.of_type("network")
            if not guides and len(nets) == 1:
                net = nets[0]
                solvers = [b for b in doc.outputs(net) if doc.nodes[b].type == "solver"]
                x, y = doc.nodes[net].pos
                gid = doc.add_node("guidance", node["kind"], node["params"], (x + 230.0, y))
                for b in solvers:
                    doc.unlink(net, b)
                    doc.link(gid, b)
                # make room: the solvers move one column to the right
                doc.move_nodes({b: (doc.nodes[b].pos[0] + 230.0, doc.nodes[b].pos[1])
                                for b in solvers})
                doc.link(net, gid)
                guides = [gid]
            elif not guides:
                guides = [self.view.add_node("guidance", node["kind"], node["params"])]
            if doc.run.labels is None:
                doc.set_run("labels", 0)
        finally:
            doc.undo_stack.endMacro()
        self.scene.select(guides)
        self.view.fit()
        self.log.info(f"classifier guidance with “{title}” towards run.labels "
                      f"{doc.run.labels!r} (edit the labels in the inspector: one class id, or a "
                      "list of one per sample)")

    _maybe_save = maybe_save      # the former name, for extensions written before it was public

    # -- running -------------------------------------------------------------------------------
    def run(self) -> bool:
        if (QGuiApplication.keyboardModifiers() & Qt.ShiftModifier
                and self.job_queue is not None):
            return self.queue_run()            # Shift+Run queues
        if self.controller.running:
            msg = "a run is already in progress: wait for it or cancel it (Esc)"
            self.log.warning(msg)
            self.statusBar().showMessage(msg, 5000)
            return False
        try:
            pipeline = self.doc.to_pipeline()
        except StudioError as exc:
            self.report("Cannot run", str(exc))
            return False
        n = len(pipeline.of_type('solver'))
        self.controller.start(pipeline, f"Sampling {self.doc.title} "
                                        f"({n} branch{'es' if n != 1 else ''})")
        self.progress.begin()
        self.cancel_action.setEnabled(True)
        self.show_results()
        r = self.doc.run
        self.log.info(f"run: {len(pipeline.of_type('solver'))} branch(es), batch {r.batch}, "
                      f"seed {r.seed}, {r.device}, {r.dtype}")
        return True

    def queue_run(self) -> bool:
        """Queue the pipeline as it is now (the Queue workspace runs it in its turn)."""
        queue = self.job_queue
        if queue is None:
            return False
        try:
            job = queue.add(self.doc.to_pipeline(), self.doc.title, self.doc.base_dir)
        except StudioError as exc:
            self.report("Cannot queue", str(exc))
            return False
        n = len(queue.pending())
        msg = f"queued “{job.title}” ({n} waiting)" + (" — the queue is paused" if queue.paused
                                                         else "")
        self.log.info(msg)
        self.statusBar().showMessage(msg, 5000)
        return True

    def show_results(self) -> None:
        """Bring the trajectory view forward (after Run): the Pipeline workspace, with the view's
        half of the page open if the user had collapsed it."""
        self.workspaces.show("pipeline")
        sizes = self.pipeline_split.sizes()
        if len(sizes) == 2 and sizes[1] < 120:
            total = sum(sizes) or 720
            self.pipeline_split.setSizes([total * 2 // 5, total - total * 2 // 5])

    def cancel(self) -> None:
        if self.controller.cancel():
            self.statusBar().showMessage("cancelling after the current step…", 3000)

    def _run_updated(self) -> None:
        self.panel.on_updated()
        self.controller.pace(self.panel.cost_ms())
        self.progress.update_progress(*self.state.progress())

    def _run_finished(self, status: str, message: str) -> None:
        self.panel.on_finished(status)
        self.cancel_action.setEnabled(False)
        self.progress.update_progress(*self.state.progress())
        if status == "finished":
            res = self.state.results()
            secs = max((r.seconds for r in res.values()), default=0.0)
            nfe = ", ".join(f"{b}: {r.nfe}" for b, r in res.items())
            self.log.ok(f"run finished in {secs:.2f} s (NFE {nfe})")
            self.progress.idle("done")
            self.statusBar().showMessage("run finished", 5000)
        elif status == "cancelled":
            self.log.warning(f"run cancelled ({message})")
            self.progress.idle("cancelled")
        else:
            self.progress.idle("failed")
            self.report("Run failed", message)
        self.runFinished.emit(status, message)

    # -- exports -------------------------------------------------------------------------------
    def export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view", os.path.join(self._folder(),
                                              "trajectories.png"), "PNG images (*.png)")
        if path:
            try:
                self.panel.export_png(path)
                self.log.ok(f"saved {path}")
            except OSError as exc:
                self.report("Cannot export", str(exc))

    def export_npz(self) -> None:
        if not self.state.results():
            self.report("Nothing to export", "run the pipeline first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export run", os.path.join(self._folder(),
                                              "run.npz"), "NumPy archives (*.npz)")
        if path:
            try:
                self.panel.export_npz(path)
                self.log.ok(f"saved {path}")
            except (OSError, ValueError) as exc:
                self.report("Cannot export", str(exc))

    # -- feedback ------------------------------------------------------------------------------
    def report(self, title: str, message: str) -> None:
        """A problem: in the log, the status bar and (unless automated) a dialog."""
        self.log.error(f"{title}: {message}")
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 8000)
        if self.show_dialogs:
            if self.error_box is not None:
                self.error_box.close()
            box = QMessageBox(QMessageBox.Warning, title, message.splitlines()[0] if message else title,
                              QMessageBox.Ok, self)
            if "\n" in message:
                box.setDetailedText(message)
            box.setWindowModality(Qt.WindowModal)
            box.open()
            self.error_box = box

    def _link_refused(self, reason: str) -> None:
        self.log.warning(reason)
        self.statusBar().showMessage(reason, 6000)

    def _selection_changed(self) -> None:
        try:
            ids = self.scene.selected_ids()
        except RuntimeError:
            return
        self.inspector.show_nodes(ids)

    def _request_preview(self) -> None:
        self.panel.prepare_views(len(self.doc.of_type("solver")))    # plots ready before Run
        nets = self.doc.of_type("network")
        if len(nets) == 1:
            n = self.doc.nodes[nets[0]]
            self.preview.request({"kind": n.kind, "params": n.params}, self.doc.base_dir)

    def reset_layout(self) -> None:
        for name, area in (("browser", Qt.LeftDockWidgetArea), ("palette", Qt.LeftDockWidgetArea),
                           ("inspector", Qt.RightDockWidgetArea), ("log", Qt.RightDockWidgetArea)):
            dock = self.docks[name]
            dock.setFloating(False)
            self.addDockWidget(area, dock)
            dock.show()
        self.tabifyDockWidget(self.docks["browser"], self.docks["palette"])
        self.docks["browser"].raise_()
        self.workspaces.reset()
        self._default_sizes()

    # -- window events -------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and self.maybe_save():
            self.open_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    def closeEvent(self, event) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        if self.controller.running:
            self.log.info("stopping the run…")
            if not self.controller.shutdown():
                self.log.error("the run did not stop in time")
        self.preview.wait()
        self.browser.model.wait()
        self.inspector.wait()
        self.closing.emit()
        self.workspaces.save(self.settings)
        self.settings.save_layout(self)
        super().closeEvent(event)

"""The inspector: the selected node's parameters as a form generated from the engine's declarations.

Every committed edit is one undoable command on the document. A solver's form also shows the
parameters of its chosen schedule (the pipeline format flattens them into the solver's params);
choosing another schedule drops the parameters the new one lacks.
"""
from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QFrame, QLabel, QLineEdit, QScrollArea,
                               QVBoxLayout, QWidget)

from . import specs
from .document import UNSET, PipelineDocument
from .editor.items import TYPE_COLORS
from .fields import INVALID_STYLE, ParamField, make_field
from .jobs import Loader
from .startform import StartForm


class Inspector(QScrollArea):
    readyChecked = Signal()          # the background check of the whole pipeline answered
    def __init__(self, doc: PipelineDocument, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.node_id: str | None = None
        self.selection: list[str] = []
        self.fields: dict[str, ParamField] = {}
        self._signature = None
        self._ready_key, self._ready, self._ready_gen = None, None, 0
        self.ready_problem: str | None = None
        self.labels_edit: QLineEdit | None = None    # the run's labels (the pipeline's form)
        self.problem_label: QLabel | None = None     # what is wrong with the node shown
        self._checker = Loader(self)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setMinimumWidth(260)
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(0)
        self._rebuild_timer.timeout.connect(self._rebuild)
        doc.nodeChanged.connect(self._node_changed)
        doc.nodeRemoved.connect(self._node_removed)
        doc.reset.connect(lambda: self.show_nodes([]))
        doc.changed.connect(self._doc_changed)
        self.show_nodes([])

    # -- what to show --------------------------------------------------------------------------
    def show_nodes(self, ids: list[str]) -> None:
        self.selection = [i for i in ids if i in self.doc.nodes]
        self.node_id = self.selection[0] if len(self.selection) == 1 else None
        self._signature = None
        self._rebuild()

    def _node_changed(self, nid: str) -> None:
        if nid != self.node_id:
            return
        if self._form_signature() != self._signature:
            self._rebuild_timer.start()      # after the signal that triggered it has returned
        else:
            self._load_values()

    def _node_removed(self, nid: str) -> None:
        if nid in self.selection:
            self.show_nodes([i for i in self.selection if i != nid])

    def _doc_changed(self) -> None:
        if self.node_id is None and not self._rebuild_timer.isActive():
            self._rebuild_timer.start()
        elif self.node_id is not None:
            self._update_problem()

    def _form_signature(self):
        n = self.doc.nodes.get(self.node_id) if self.node_id else None
        if n is None:
            return None
        return n.kind, tuple(s.name for s in specs.all_specs(n.type, n.kind, n.params))

    # -- building the form ---------------------------------------------------------------------
    def _rebuild(self) -> None:
        self.fields = {}
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(6)
        if self.node_id is None or self.node_id not in self.doc.nodes:
            self._summary(lay)
        else:
            self._node_form(lay)
        lay.addStretch(1)
        old = self.takeWidget()
        if old is not None:
            old.deleteLater()
        self.setWidget(page)

    # -- readiness: "Ready to run" only once the pipeline really built ------------------------
    def _status_html(self) -> str:
        d = self.doc
        problem = d.problem()
        if problem is None:
            key = repr((d.to_dict(), d.base_dir))
            if self._ready_key != key:
                self._ready_key, self._ready = key, None
                self._ready_gen += 1
                gen = self._ready_gen
                from .readiness import check
                data, base = d.to_dict(), d.base_dir
                self._checker.submit(lambda: check(data, base),
                                     lambda r, err: self._checked(gen, r, err))
            if self._ready is None:
                return "<span style='color:#8a949e'>Checking the pipeline…</span>"
            problem = self._ready or None
        self.ready_problem = problem
        branches = len(d.of_type("solver"))
        return (f"<span style='color:#e0564a'>Cannot run: {_esc(problem)}</span>" if problem
                else f"<span style='color:#6cd27a'>Ready to run: {branches} solver "
                     f"branch{'es' if branches != 1 else ''}</span>")

    def wait(self, ms: int = 10000) -> bool:
        return self._checker.wait(ms)

    def _checked(self, gen: int, result, error: str) -> None:
        if gen != self._ready_gen:
            return                       # the pipeline changed since
        self._ready = error or result or ""
        if self.node_id is None and len(self.selection) <= 1:
            self._rebuild_timer.start()
        self.readyChecked.emit()

    def _summary(self, lay: QVBoxLayout) -> None:
        if len(self.selection) > 1:
            text = f"<b>{len(self.selection)} nodes selected</b><br>{', '.join(self.selection)}"
        else:
            d = self.doc
            status = self._status_html()
            text = (f"<b>{_esc(d.title)}</b><br>{len(d.nodes)} nodes, {len(d.links)} links<br>"
                    f"batch {d.run.batch} · seed {d.run.seed} · {d.run.device} · {d.run.dtype}"
                    f"<br><br>{status}<br><br><i>Select a node to edit its parameters.</i>")
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.RichText)
        label.setObjectName("inspectorSummary")
        lay.addWidget(label)
        self.summary_label = label
        if len(self.selection) <= 1:
            self._labels_field(lay)
            self.start_form = StartForm(self.doc)      # run.start: the prior or teleport
            lay.addWidget(self.start_form)

    def _labels_field(self, lay: QVBoxLayout) -> None:
        """Class labels of a run (class-conditional networks); the toolbar holds the rest."""
        form = QFormLayout()
        edit = QLineEdit()
        edit.setPlaceholderText("unconditional")
        edit.setToolTip("Class labels for a class-conditional network: one integer for every "
                        "sample, or a JSON list of one integer per sample. Empty: none.")
        labels = self.doc.run.labels
        edit.setText("" if labels is None else json.dumps(labels))

        shown = edit.text()

        def commit() -> None:
            nonlocal shown
            # A rebuilt form (another document opened) leaves this edit stale: a focus-out from it
            # must not write its old value into the new document.
            if self.labels_edit is not edit or edit.text() == shown:
                return
            text = edit.text().strip()
            try:
                value = None if not text else json.loads(text)
                ok = value is None or (isinstance(value, int) and not isinstance(value, bool)) or (
                    isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                    for v in value))
            except ValueError:
                ok = False
            edit.setStyleSheet("" if ok else INVALID_STYLE)
            if ok:
                shown = edit.text()
                self.doc.set_run("labels", value)

        edit.editingFinished.connect(commit)
        form.addRow("labels", edit)
        lay.addLayout(form)
        self.labels_edit = edit

    def _node_form(self, lay: QVBoxLayout) -> None:
        n = self.doc.nodes[self.node_id]
        color = TYPE_COLORS[n.type].lighter(150).name()
        head = QLabel(f"<span style='color:{color}; font-weight:bold'>{specs.TYPE_TITLES[n.type]}"
                      f"</span> &nbsp;<b>{_esc(n.id)}</b>")
        head.setTextFormat(Qt.RichText)
        lay.addWidget(head)
        self.kind_combo = QComboBox()
        self.kind_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.kind_combo.setMinimumContentsLength(14)
        kinds = specs.kinds(n.type)
        for k in kinds:
            self.kind_combo.addItem(f"{specs.kind_title(n.type, k)}  ({k})", k)
        if n.kind in kinds:
            self.kind_combo.setCurrentIndex(kinds.index(n.kind))
        self.kind_combo.setToolTip("The node's kind; changing it resets its parameters")
        self.kind_combo.activated.connect(self._kind_chosen)
        lay.addWidget(self.kind_combo)
        doc = QLabel(specs.kind_doc(n.type, n.kind))
        doc.setWordWrap(True)
        doc.setStyleSheet("color: #9aa4ae; font-size: 11px;")
        lay.addWidget(doc)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        for spec in specs.specs(n.type, n.kind):
            self._add_field(form, spec)
        lay.addLayout(form)
        if n.type == "solver":
            sched, sspecs = specs.schedule_specs(n.kind, n.params)
            if sspecs:
                title = QLabel(f"<b>Schedule “{_esc(sched)}”</b>")
                title.setTextFormat(Qt.RichText)
                lay.addWidget(title)
                sform = QFormLayout()
                sform.setLabelAlignment(Qt.AlignRight)
                for spec in sspecs:
                    self._add_field(sform, spec)
                lay.addLayout(sform)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #e0564a;")
        lay.addWidget(self.problem_label)
        self._signature = self._form_signature()
        self._load_values()

    def _add_field(self, form: QFormLayout, spec) -> None:
        field = make_field(spec, f"{self.node_id}.{spec.name}")
        field.committed.connect(lambda value, name=spec.name: self._commit(name, value))
        label = QLabel(spec.name)
        label.setToolTip(field.toolTip())
        form.addRow(label, field)
        self.fields[spec.name] = field

    def _load_values(self) -> None:
        n = self.doc.nodes[self.node_id]
        for name, field in self.fields.items():
            field.set_value(specs.effective(field.spec, n.params), name in n.params)
        self._update_problem()

    def _update_problem(self) -> None:
        if self.node_id is None or self.node_id not in self.doc.nodes:
            return
        n = self.doc.nodes[self.node_id]
        problem = specs.validate_node(n.type, n.kind, n.params, self.doc.base_dir)
        if self.problem_label is not None:
            try:
                self.problem_label.setText(f"⚠ {problem}" if problem else "")
            except RuntimeError:  # the label of a form being replaced
                pass

    # -- edits ---------------------------------------------------------------------------------
    def _commit(self, name: str, value) -> None:
        nid = self.node_id
        if nid is None:
            return
        n = self.doc.nodes[nid]
        if n.type == "solver" and name == "schedule" and value is not UNSET:
            self.doc.set_params(nid, specs.with_schedule(n.kind, n.params, value),
                                f"Set {nid}.schedule")
        else:
            self.doc.set_param(nid, name, value)

    def _kind_chosen(self, index: int) -> None:
        kind = self.kind_combo.itemData(index)
        if self.node_id is not None and kind != self.doc.nodes[self.node_id].kind:
            self.doc.set_kind(self.node_id, kind)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

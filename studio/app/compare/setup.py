"""The comparison's set-up form: model and process, solvers, schedules, NFE budgets, metrics,
reference, data, seed and batch. :meth:`CompareSetup.build_spec` turns it into a
:class:`CompareSpec` exactly as ``studio compare`` turns its options into one."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QListWidget, QListWidgetItem, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ...core.compare import METRICS, CompareSpec
from ...core.compare.judges import judge_names
from ...core.compare.spec import parse_list, parse_nfes, parse_schedule, parse_solver
from ...core.errors import ParamError, StudioError
from ...core.pipeline import Pipeline
from ...core.registry import PROCESSES, SCHEDULES, SOLVERS
from ..fields import INVALID_STYLE
from ..runspecs import limit
from ..seedbox import SeedBox
from .axesbox import AxesBox, axis_targets

CURRENT = "current"
#: schedules listed for crossing with every solver (custom needs its own time points)
HIDDEN_SCHEDULES = ("custom",)
REFERENCE_KINDS = (("auto", "Automatic (exact where possible)"),
                   ("adaptive", "Adaptive Dormand-Prince, rtol = atol = 1e-9"),
                   ("closed-form", "Closed form (Gaussian networks)"),
                   ("solver", "High-NFE run of a solver"))


def _checklist(rows: int) -> QListWidget:
    w = QListWidget()
    w.setMinimumHeight(rows * 19)
    w.setMaximumHeight(rows * 19 + 6)
    w.setUniformItemSizes(True)
    return w


def _add_check(lst: QListWidget, text: str, data: str, tip: str, checked: bool) -> None:
    it = QListWidgetItem(text)
    it.setData(Qt.UserRole, data)
    it.setToolTip(tip)
    it.setFlags(Qt.ItemIsEnabled | Qt.ItemIsUserCheckable)
    it.setCheckState(Qt.Checked if checked else Qt.Unchecked)
    lst.addItem(it)


def checked(lst: QListWidget) -> list[str]:
    return [lst.item(i).data(Qt.UserRole) for i in range(lst.count())
            if lst.item(i).checkState() == Qt.Checked]


def set_checked(lst: QListWidget, ids) -> None:
    ids = set(ids)
    for i in range(lst.count()):
        it = lst.item(i)
        it.setCheckState(Qt.Checked if it.data(Qt.UserRole) in ids else Qt.Unchecked)


def _doc(cls) -> str:
    return " ".join((cls.__doc__ or "").split())


class CompareSetup(QWidget):
    """The form. ``doc`` is the main window's pipeline document (the current pipeline)."""

    changed = Signal()

    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.pipeline_file: str | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)

        # -- model ---------------------------------------------------------------------------
        box = QGroupBox("Model")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.source = QComboBox()
        self.source.addItem("Current pipeline (canvas)", CURRENT)
        self.source.setToolTip("The network (and its process, guidance, device) the cells run")
        pick = QToolButton()
        pick.setText("…")
        pick.setToolTip("Compare the model of another pipeline file")
        pick.clicked.connect(self._pick_pipeline)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(pick)
        form.addRow("pipeline", row)
        self.process = QComboBox()
        self.process.addItem("as in the pipeline", "")
        for pid, cls in PROCESSES.items():
            self.process.addItem(f"{getattr(cls, 'title', '') or pid} ({pid})", pid)
        self.process.setToolTip("Override the pipeline's process (its default parameters)")
        form.addRow("process", self.process)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #9aa4ae;")
        form.addRow(self.model_label)
        lay.addWidget(box)

        # -- solvers and schedules -------------------------------------------------------------
        box = QGroupBox("Solvers (rows)")
        v = QVBoxLayout(box)
        self.solvers = _checklist(8)
        for sid, cls in SOLVERS.items():
            tag = " · stochastic" if cls.stochastic else (" · adaptive" if cls.adaptive else "")
            _add_check(self.solvers, f"{cls.title or sid}{tag}", sid, f"{sid}: {_doc(cls)}", False)
        v.addWidget(self.solvers)
        self.extra_solvers = QLineEdit()
        self.extra_solvers.setPlaceholderText("more, with params: ddim:eta=1, heun:s_churn=2")
        self.extra_solvers.setToolTip("Comma-separated solver ids with parameters (as `studio "
                                      "compare --solvers`); added after the ticked ones")
        v.addWidget(self.extra_solvers)
        lay.addWidget(box)

        box = QGroupBox("Schedules (none ticked: each solver's own)")
        v = QVBoxLayout(box)
        self.schedules = _checklist(5)
        for sid, cls in SCHEDULES.items():
            if sid not in HIDDEN_SCHEDULES:
                _add_check(self.schedules, sid, sid, _doc(cls), False)
        v.addWidget(self.schedules)
        lay.addWidget(box)

        # -- budgets, run ------------------------------------------------------------------------
        box = QGroupBox("Budgets and run")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.nfes = QLineEdit("5, 10, 20, 40")
        self.nfes.setToolTip("NFE budgets (columns), comma-separated: network evaluations per "
                             "sample, the final denoise included")
        self.nfes.textChanged.connect(self._check_nfes)
        form.addRow("NFE budgets", self.nfes)
        self.seed = SeedBox()   # 64-bit seeds
        limit(self.seed, "seed", doc="Seed of the prior noise every cell starts from")
        self.batch = QSpinBox()
        limit(self.batch, "batch", doc="Samples per cell (the same noise for every cell)")
        form.addRow("seed", self.seed)
        form.addRow("batch", self.batch)
        lay.addWidget(box)

        # -- metrics, reference, data ----------------------------------------------------------
        box = QGroupBox("Metrics and reference")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.metrics = _checklist(4)
        for mid, cls in METRICS.items():
            _add_check(self.metrics, f"{mid} — {cls.title}", mid, _doc(cls), cls.default)
        form.addRow(self.metrics)
        self.judge = QComboBox()
        self.judge.addItem("first that fits the data", None)
        for name in judge_names():
            self.judge.addItem(name, name)
        self.judge.setToolTip("Who scores classifier accuracy and the Frechet distance: a trained "
                              "classifier. Pick one other than the classifier that guides the "
                              "samples (digits-mlp for classifier guidance on digits)")
        form.addRow("judge", self.judge)
        self.reference = QComboBox()
        for kind, title in REFERENCE_KINDS:
            self.reference.addItem(title, kind)
        self.reference.setToolTip("What the RMSE is measured against: the exact probability-flow "
                                  "endpoint from the same noise where it can be computed")
        self.reference.currentIndexChanged.connect(self._reference_changed)
        form.addRow("reference", self.reference)
        self.ref_solver = QComboBox()
        for sid, cls in SOLVERS.items():
            if not cls.stochastic:
                self.ref_solver.addItem(sid, sid)
        self.ref_solver.setCurrentIndex(max(0, self.ref_solver.findData("heun")))
        self.ref_nfe = QSpinBox()
        self.ref_nfe.setRange(10, 100000)
        self.ref_nfe.setValue(501)
        row = QHBoxLayout()
        row.addWidget(self.ref_solver, 1)
        row.addWidget(QLabel("NFE"))
        row.addWidget(self.ref_nfe)
        self.ref_row = QWidget()
        self.ref_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("", self.ref_row)
        self.data = QLineEdit()
        self.data.setPlaceholderText("samples of the analytic model")
        self.data.setToolTip("Data samples (.npy, [N, *data_shape]) for the distribution metrics; "
                             "empty: drawn from an analytic network")
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._pick_data)
        row = QHBoxLayout()
        row.addWidget(self.data, 1)
        row.addWidget(browse)
        form.addRow("data", row)
        self.n_data = QSpinBox()
        self.n_data.setRange(2, 10_000_000)
        self.n_data.setValue(4096)
        self.n_data.setToolTip("Data samples the distribution metrics use")
        form.addRow("data samples", self.n_data)
        lay.addWidget(box)
        self.axes_box = AxesBox()
        lay.addWidget(self.axes_box)
        lay.addStretch(1)

        self._reference_changed()
        self.source.currentIndexChanged.connect(self._describe)
        self.process.currentIndexChanged.connect(self._describe)
        doc.changed.connect(self._describe)
        self.from_document()

    # -- filling in ----------------------------------------------------------------------------
    def from_document(self) -> None:
        """Tick the current pipeline's solvers and take its seed and batch."""
        kinds = [self.doc.nodes[n].kind for n in self.doc.of_type("solver")]
        set_checked(self.solvers, kinds or ["euler", "heun", "dpm-solver++-2m"])
        self.seed.setValue(int(self.doc.run.seed))
        self.batch.setValue(int(self.doc.run.batch))
        self.source.setCurrentIndex(0)
        self._describe()

    def set_pipeline_file(self, path: str) -> None:
        self.pipeline_file = os.path.abspath(path)
        i = self.source.findData("file")
        label = f"File: {os.path.basename(path)}"
        if i < 0:
            self.source.addItem(label, "file")
            i = self.source.count() - 1
        else:
            self.source.setItemText(i, label)
        self.source.setItemData(i, self.pipeline_file, Qt.ToolTipRole)
        self.source.setCurrentIndex(i)
        self._describe()

    def _pick_pipeline(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Pipeline to compare", self.doc.base_dir or "",
                                              "Pipelines (*.json);;All files (*)")
        if path:
            self.set_pipeline_file(path)

    def _pick_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Data samples", self.doc.base_dir or "",
                                              "NumPy arrays (*.npy);;All files (*)")
        if path:
            self.data.setText(path)

    def _reference_changed(self, *_) -> None:
        self.ref_row.setVisible(self.reference.currentData() == "solver")

    def _check_nfes(self) -> None:
        try:
            parse_nfes(self.nfes.text())
        except StudioError as exc:
            self.nfes.setStyleSheet(INVALID_STYLE)
            self.nfes.setToolTip(exc.problem)
            return
        self.nfes.setStyleSheet("")
        self.nfes.setToolTip("NFE budgets (columns), comma-separated")

    def _describe(self, *_) -> None:
        try:
            pipe = self.pipeline()
            (pid,), (nid,) = pipe.of_type("process"), pipe.of_type("network")
            text = f"{pipe.nodes[nid].kind} network · {pipe.nodes[pid].kind} process"
            self.model_label.setStyleSheet("color: #9aa4ae;")
            branches = {k: k for k in checked(self.solvers)}
            try:
                for t in parse_list(self.extra_solvers.text()):
                    e = parse_solver(t, "solvers")
                    branches[e.branch] = e.kind
            except StudioError:
                pass
            self.axes_box.set_targets(axis_targets(pipe, branches))
        except (StudioError, ValueError) as exc:
            text = f"cannot use: {exc}"
            self.model_label.setStyleSheet("color: #e0564a;")
        self.model_label.setText(text)

    # -- the spec --------------------------------------------------------------------------------
    def pipeline(self) -> Pipeline:
        """The pipeline the comparison runs (with the process override, seed and batch)."""
        if self.source.currentData() == CURRENT:
            pipe = self.doc.to_pipeline()
        else:
            pipe = Pipeline.load(self.pipeline_file)
        d = pipe.to_dict()
        override = self.process.currentData()
        if override:
            for n in d["nodes"].values():
                if n["type"] == "process" and n["kind"] != override:
                    n["kind"], n["params"] = override, {}
        out = Pipeline.from_dict(d, pipe.base_dir, pipe.source)
        out.run.seed = int(self.seed.value())
        out.run.batch = int(self.batch.value())
        labels = out.run.labels
        if isinstance(labels, list) and labels and len(labels) != out.run.batch:
            # per-sample labels follow the batch: the pipeline's pattern, repeated or cut
            out.run.labels = [labels[i % len(labels)] for i in range(out.run.batch)]
        return out

    def reference_entry(self):
        kind = self.reference.currentData()
        if kind == "solver":
            return {"kind": "solver", "params": {"solver": self.ref_solver.currentData(),
                                                 "params": {"nfe": int(self.ref_nfe.value())}}}
        return {"kind": kind, "params": {}}

    def build_spec(self) -> CompareSpec:
        """The comparison to run; raises StudioError naming the bad field."""
        pipe = self.pipeline()
        texts = checked(self.solvers) + parse_list(self.extra_solvers.text())
        if not texts:
            raise ParamError("tick at least one solver", "solvers")
        solvers = [parse_solver(s, "solvers") for s in texts]
        guidance = pipe.branches()[0].guidance
        for s in solvers:
            s.guidance = guidance
        schedules = [parse_schedule(s, "schedules") for s in checked(self.schedules)]
        metrics = checked(self.metrics)
        if not metrics:
            raise ParamError("tick at least one metric", "metrics")
        defaults = [mid for mid, cls in METRICS.items() if cls.default]
        judge = self.judge.currentData()
        if judge is not None:
            metrics = [{"id": m, "params": {"judge": judge}} if _judged(m) else m
                       for m in metrics]
        data = self.data.text().strip() or None
        if data is not None:
            data = os.path.abspath(data)
            if not os.path.exists(data):
                raise ParamError(f"no such file: {data}", "data")
        return CompareSpec.from_pipeline(pipe, parse_nfes(self.nfes.text(), "NFE budgets"), solvers,
                                         schedules, metrics=None if metrics == defaults else metrics,
                                         reference=self.reference_entry(), data=data,
                                         n_data=int(self.n_data.value()),
                                         axes=self.axes_box.axes())

    def from_spec(self, spec: CompareSpec) -> None:
        """Show a (reopened) comparison's settings."""
        set_checked(self.solvers, [])
        extra = []
        ids = {self.solvers.item(i).data(Qt.UserRole) for i in range(self.solvers.count())}
        plain = []
        for s in spec.solvers:
            if not s.params and s.kind in ids:
                plain.append(s.kind)
            else:
                extra.append(s.kind + "".join(f":{k}={_fmt(v)}" for k, v in s.params.items()))
        set_checked(self.solvers, plain)
        self.extra_solvers.setText(", ".join(extra))
        set_checked(self.schedules, [s.id for s in spec.schedules])
        self.nfes.setText(", ".join(str(n) for n in spec.nfes))
        self.seed.setValue(int(spec.pipeline.run.seed))
        self.batch.setValue(int(spec.pipeline.run.batch))
        judge = None
        if spec.metrics is not None:
            set_checked(self.metrics, [m if isinstance(m, str) else m.get("id") for m in spec.metrics])
            judge = next((m["params"]["judge"] for m in spec.metrics if isinstance(m, dict)
                          and (m.get("params") or {}).get("judge")), None)
        self.judge.setCurrentIndex(max(0, self.judge.findData(judge)))
        ref = spec.reference if isinstance(spec.reference, dict) else {"kind": spec.reference}
        i = self.reference.findData(ref.get("kind", "auto"))
        self.reference.setCurrentIndex(max(i, 0))
        if ref.get("kind") == "solver":
            p = ref.get("params") or {}
            self.ref_solver.setCurrentIndex(max(0, self.ref_solver.findData(p.get("solver", "heun"))))
            self.ref_nfe.setValue(int((p.get("params") or {}).get("nfe", 501)))
        self.data.setText(spec.data or "")
        self.n_data.setValue(int(spec.n_data))
        self.axes_box.set_axes(spec.axes)


def _judged(mid: str) -> bool:
    """A metric scored by a judge (it has a ``judge`` parameter)."""
    from ...core.params import param_specs
    return any(p.name == "judge" for p in param_specs(METRICS.get(mid)))


def _fmt(v) -> str:
    import json

    return v if isinstance(v, str) else json.dumps(v)

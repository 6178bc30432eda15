"""Parameter forms of the inverse-problem panel, generated from the engine's declarations with the
app's own field editors (:mod:`studio.app.fields`): the operator's parameters, one form per method
and the sampler's. The forms observe the :class:`~.model.InverseModel` and commit to it.
"""
from __future__ import annotations

import dataclasses
import html

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout,
                               QWidget)

from ...core.inverse.operators import OPERATORS
from ...core.params import param_specs
from .. import specs as kinds
from ..forms import SpecForm
from ..runspecs import limit
from ..seedbox import SeedBox
from .problem import METHODS, SHARED, method_title, sr_factors, unusable

HINT_STYLE = "color: #9aa4ae; font-size: 11px;"


class ParamForm(SpecForm):
    """The app's form builder; emits (name, value or UNSET) on each commit and shows the values
    the problem holds (:meth:`load`)."""


def operator_specs(kind: str, prior) -> list:
    """The operator's parameters the form shows (the mask is painted, a matrix is not typed)."""
    out = []
    for s in param_specs(OPERATORS.get(kind)):
        if s.name in ("mask", "matrix", "_base_dir"):
            continue
        if kind == "super-resolution" and s.name == "factor" and prior.kind == "image":
            s = dataclasses.replace(s, choices=tuple(sr_factors(prior)) or (1,))
        out.append(s)
    return out


class OperatorForm(QWidget):
    """The chosen operator's parameters (rebuilt when the operator or the prior changes)."""

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        self.form: ParamForm | None = None
        self._sig = None
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        model.operatorChanged.connect(self.refresh)
        model.priorChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        p = self.model.problem
        sig = (p.operator, p.prior.key)
        if sig != self._sig:
            self._sig = sig
            if self.form is not None:
                self.form.setParent(None)
                self.form.deleteLater()
            self.form = ParamForm(operator_specs(p.operator, p.prior), f"operator.{p.operator}")
            self.form.committed.connect(self.model.set_op_param)
            self._lay.addWidget(self.form)
            self.setVisible(bool(self.form.fields))
        self.form.load(p.op_params.get(p.operator, {}))


class MethodBox(QGroupBox):
    """One method: a check box (run it or not) over its parameters."""

    def __init__(self, model, kind: str, parent=None):
        super().__init__(method_title(kind, short=True), parent)
        self.model, self.kind = model, kind
        self.setCheckable(True)
        self.setObjectName(f"method-{kind}")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 0, 4, 4)
        doc = QLabel(f"<i>{html.escape(method_title(kind))}</i>: "
                     f"{html.escape(kinds.kind_doc('guidance', kind))}")
        doc.setWordWrap(True)
        doc.setStyleSheet(HINT_STYLE)
        lay.addWidget(doc)
        self.form = ParamForm([s for s in kinds.specs("guidance", kind) if s.name not in SHARED],
                              f"{kind}")
        self.form.committed.connect(lambda n, v: model.set_method_param(kind, n, v))
        lay.addWidget(self.form)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.addWidget(body)
        self.body = body
        self.toggled.connect(self._toggled)

    def _toggled(self, on: bool) -> None:
        self.body.setVisible(on)
        if on != bool(self.model.problem.enabled.get(self.kind)):
            self.model.set_enabled(self.kind, on)

    def refresh(self) -> None:
        p = self.model.problem
        why = unusable(p.prior, self.kind)
        usable = why is None
        on = bool(p.enabled.get(self.kind)) and usable
        self.setEnabled(usable)
        self.setToolTip(why or "")
        self.blockSignals(True)
        self.setChecked(on)
        self.blockSignals(False)
        self.body.setVisible(on)
        self.form.load(p.method_params.get(self.kind, {}))


class MethodsEditor(QWidget):
    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.boxes = {m: MethodBox(model, m) for m in METHODS}
        for box in self.boxes.values():
            lay.addWidget(box)
        model.methodsChanged.connect(self.refresh)
        model.priorChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        for box in self.boxes.values():
            box.refresh()


class SamplerEditor(QWidget):
    """The solver every method's branch uses, its parameters, samples per method and seed."""

    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        for k in kinds.kinds("solver"):
            self.combo.addItem(f"{kinds.kind_title('solver', k)}  ({k})", k)
        self.combo.setToolTip("The sampler of every method (replace, DPS and RED-diff drive it "
                              "one interval at a time)")
        self.combo.activated.connect(self._solver_chosen)
        self.batch = QSpinBox()
        limit(self.batch, "batch", cap=256,
              doc="Posterior samples per method (the views show up to 36)")
        self.batch.valueChanged.connect(lambda v: model.set_run(batch=v))
        self.seed = SeedBox()   # 64-bit seeds
        limit(self.seed, "seed", doc="Seed of the prior noise (the same for every method)")
        self.seed.valueChanged.connect(lambda v: model.set_run(seed=v))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("samples"))
        row.addWidget(self.batch, 1)
        row.addWidget(QLabel("seed"))
        row.addWidget(self.seed, 1)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.addWidget(self.combo)
        self.form: ParamForm | None = None
        self._sig = None
        self._lay.addLayout(row)
        # a new form is built after the commit that asked for it has returned (never delete the
        # field whose signal is being delivered)
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(0)
        self._rebuild_timer.timeout.connect(self.refresh)
        model.methodsChanged.connect(self._changed)
        self._build()
        self.refresh()

    def _signature(self):
        p = self.model.problem
        specs_ = kinds.all_specs("solver", p.solver, p.solver_params)
        return (p.solver, tuple(s.name for s in specs_)), specs_

    def _build(self) -> None:
        p = self.model.problem
        self._sig, specs_ = self._signature()
        if self.form is not None:
            self.form.setParent(None)
            self.form.deleteLater()
        self.form = ParamForm(specs_, f"solver.{p.solver}")
        self.form.committed.connect(self._commit)
        self._lay.insertWidget(1, self.form)

    def _changed(self) -> None:
        if self._signature()[0] != self._sig:
            self._rebuild_timer.start()
        else:
            self.refresh()

    def _solver_chosen(self, i: int) -> None:
        kind = self.combo.itemData(i)
        if kind != self.model.problem.solver:
            steps = self.model.problem.solver_params.get("steps", 50)
            self.model.set_solver(kind, {"steps": steps})

    def refresh(self) -> None:
        p = self.model.problem
        i = self.combo.findData(p.solver)
        if i >= 0 and i != self.combo.currentIndex():
            self.combo.setCurrentIndex(i)
        if self._signature()[0] != self._sig:
            self._build()
        self.form.load(p.solver_params)
        for box, v in ((self.batch, p.batch), (self.seed, p.seed)):
            if box.value() != v:
                box.blockSignals(True)
                box.setValue(v)
                box.blockSignals(False)

    def _commit(self, name: str, value) -> None:
        if name == "schedule" and isinstance(value, str):
            self.model.set_solver(self.model.problem.solver,
                                  kinds.with_schedule(self.model.problem.solver,
                                                      self.model.problem.solver_params, value))
        else:
            self.model.set_solver_param(name, value)

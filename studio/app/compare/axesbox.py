"""The sweep-axes part of the comparison set-up: up to three axes of any kind (a node parameter,
``run.seed`` / ``run.batch`` / ``run.labels``, or a whole node swapped) and where the cells run
(``local``, ``processes``, ``ray`` with an optional cluster address).

Each axis is a target (picked from the pipeline's nodes and parameters, or typed) and its values
written as on the command line (``studio compare --axis TARGET=V1,V2``)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit,
                               QWidget)

from ...core.compare.axes import MAX_AXES, RUN_KEYS, Axis, parse_axis, value_label
from ...core.compare.executors import EXECUTORS
from ...core.errors import ParamError, StudioError
from ...core.params import param_specs
from ...core.pipeline import NODE_TYPES
from ..fields import INVALID_STYLE

_BUDGET = ("steps", "nfe", "schedule")


def axis_targets(pipe, solver_kinds: dict[str, str] | None = None) -> list[str]:
    """Sweepable targets of a pipeline: every non-solver node (swap) and parameter, the run
    settings, and the parameters of the comparison's solvers (``solver_kinds``: branch -> kind)."""
    out = [f"run.{k}" for k in RUN_KEYS]
    for nid, node in pipe.nodes.items():
        if node.type == "solver":
            continue
        out.append(nid)
        cls = NODE_TYPES[node.type].get(node.kind)
        out += [f"{nid}.{s.name}" for s in param_specs(cls) if not s.name.startswith("_")]
    for branch, kind in (solver_kinds or {}).items():
        cls = NODE_TYPES["solver"].get(kind)
        out += [f"{branch}.{s.name}" for s in param_specs(cls)
                if s.name not in _BUDGET and s.name != "schedule_params"]
    return out


class AxesBox(QGroupBox):
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(f"Sweep axes (up to {MAX_AXES}) and executor", parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.targets: list[QComboBox] = []
        self.values: list[QLineEdit] = []
        for i in range(MAX_AXES):
            target = QComboBox()
            target.setEditable(True)
            target.setMinimumContentsLength(12)
            target.setToolTip("What the axis sweeps: node.param, run.seed / run.batch / run.labels, "
                              "or a node id to swap the whole node")
            target.lineEdit().setPlaceholderText("none")
            vals = QLineEdit()
            vals.setPlaceholderText("values: 1, 2, 4  ·  node swap: kind:key=value, kind2")
            vals.setToolTip("Comma-separated values (JSON where they parse); a swapped node as "
                            "kind or kind:key=value:key=value")
            vals.textChanged.connect(self._validate)
            target.currentTextChanged.connect(self._validate)
            row = QHBoxLayout()
            row.addWidget(target, 2)
            row.addWidget(vals, 3)
            holder = QWidget()
            holder.setLayout(row)
            row.setContentsMargins(0, 0, 0, 0)
            form.addRow(f"axis {i + 1}", holder)
            self.targets.append(target)
            self.values.append(vals)
        self.executor = QComboBox()
        for name in EXECUTORS:
            self.executor.addItem(name, name)
        self.executor.setToolTip("Where the cells run: here (local), a pool of local processes, or "
                                 "Ray tasks (a local Ray instance, or the cluster at the address)")
        self.address = QLineEdit()
        self.address.setPlaceholderText("Ray cluster HOST:PORT (empty: a local Ray instance)")
        self.executor.currentIndexChanged.connect(
            lambda _i: self.address.setEnabled(self.executor.currentData() == "ray"))
        self.address.setEnabled(False)
        form.addRow("executor", self.executor)
        form.addRow("address", self.address)

    def bind_settings(self, settings) -> None:
        """Restore the executor and Ray address from the app's settings, and keep them there."""
        if settings is None:
            return
        i = self.executor.findData(settings.value("compare/executor", "local"))
        self.executor.setCurrentIndex(max(i, 0))
        self.address.setText(str(settings.value("compare/ray_address", "") or ""))
        self.executor.currentIndexChanged.connect(
            lambda _i: settings.set_value("compare/executor", self.executor.currentData()))
        self.address.editingFinished.connect(
            lambda: settings.set_value("compare/ray_address", self.address.text().strip()))

    def set_targets(self, targets: list[str]) -> None:
        for combo in self.targets:
            text = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("")
            combo.addItems(targets)
            combo.setEditText(text)
            combo.blockSignals(False)

    def axes(self) -> list[Axis]:
        """The filled-in axes (raises ParamError naming the axis row)."""
        out = []
        for i, (combo, vals) in enumerate(zip(self.targets, self.values)):
            target, text = combo.currentText().strip(), vals.text().strip()
            if not target and not text:
                continue
            if not target or not text:
                raise ParamError("give both the target and its values", f"axis {i + 1}")
            out.append(parse_axis(f"{target}={text}", f"axis {i + 1}"))
        return out

    def set_axes(self, axes: list[Axis]) -> None:
        for i in range(MAX_AXES):
            ax = axes[i] if i < len(axes) else None
            self.targets[i].setEditText(ax.target if ax else "")
            self.values[i].setText(", ".join(_value_text(ax, v) for v in ax.values) if ax else "")

    def choice(self) -> tuple[str, str | None]:
        """(executor name, Ray address or None)."""
        name = self.executor.currentData()
        addr = self.address.text().strip() or None
        return name, addr if name == "ray" else None

    def _validate(self, *_) -> None:
        for i, vals in enumerate(self.values):
            target, text = self.targets[i].currentText().strip(), vals.text().strip()
            try:
                if target and text:
                    parse_axis(f"{target}={text}", f"axis {i + 1}")
                vals.setStyleSheet("")
            except StudioError as exc:
                vals.setStyleSheet(INVALID_STYLE)
                vals.setToolTip(str(exc))
        self.changed.emit()


def _value_text(ax: Axis, v) -> str:
    import json

    if ax.kind == "node" and isinstance(v, dict):
        params = v.get("params") or {}
        return v["kind"] + "".join(f":{k}={json.dumps(x)}" for k, x in params.items())
    return v if isinstance(v, str) else json.dumps(v) if not isinstance(v, float) else value_label(v)


__all__ = ["AxesBox", "axis_targets"]

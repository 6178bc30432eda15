"""Rows that run another model than the pipeline's: a flow-map model's jumps raced against its
teacher (the pipeline's model) at equal NFE, or any model from the library with any solver.

The widget writes the row into the set-up's "more solvers" field as ``SOLVER@MODEL``
(:func:`studio.core.compare.spec.parse_solver`), the same text ``studio compare --solvers``
takes, so the app and the command line build the same :class:`CompareSpec`.
"""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from ...core.compare.spec import parse_list, parse_solver
from ...core.errors import StudioError
from ...core.registry import SOLVERS
from ..fields import INVALID_STYLE


def library_models() -> list[tuple[str, str, bool]]:
    """(label, reference, is a flow map) of every usable denoiser in the library, flow maps
    first."""
    from ...core.library import list_models
    out = []
    for e in list_models():
        spec = getattr(e.info, "spec", None)
        if spec is None or spec.is_classifier:
            continue
        name = spec.name or e.reference
        tag = "flow map · " if spec.is_flow_map else ""
        out.append((f"{tag}{name} ({e.reference})", e.reference, bool(spec.is_flow_map)))
    return sorted(out, key=lambda r: (not r[2], r[0].lower()))


class ModelRows(QWidget):
    """[model] [solver] [Add model row]: appends ``solver@model`` to ``target`` (a QLineEdit)."""

    def __init__(self, target: QLineEdit, base_dir=lambda: "", parent=None):
        super().__init__(parent)
        self.target = target
        self._base_dir = base_dir
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.model = QComboBox()
        self.model.setToolTip("A model whose row races the pipeline's model from the same "
                              "noise (a flow-map model against its teacher, at equal NFE)")
        self.model.setMinimumContentsLength(18)
        self.model.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.listed = False   # the library is read when the row is first shown (not at start-up)
        self.model.currentIndexChanged.connect(self._model_changed)
        pick = QToolButton()
        pick.setText("…")
        pick.setToolTip("A model file (.safetensors) from disk")
        pick.clicked.connect(self._pick)
        self.solver = QComboBox()
        for sid, cls in SOLVERS.items():
            if not cls.stochastic and not cls.adaptive:
                self.solver.addItem(sid, sid)
        self.solver.setToolTip("The solver of that row: flow-map jumps with the map, any ODE "
                               "solver integrates the velocity the model implies")
        add = QPushButton("Add model row")
        add.setToolTip("Add the row SOLVER@MODEL to the solvers above")
        add.clicked.connect(self._add_clicked)
        self.add_button = add
        top = QHBoxLayout()
        top.addWidget(self.model, 1)
        top.addWidget(pick)
        bottom = QHBoxLayout()
        bottom.addWidget(self.solver, 1)
        bottom.addWidget(add)
        lay.addLayout(top)
        lay.addLayout(bottom)
        self._model_changed()

    def showEvent(self, event) -> None:   # noqa: N802 - Qt override
        self.list_models()
        super().showEvent(event)

    def list_models(self) -> None:
        """Fill the model list from the library, once (checking its files takes a while, so it
        waits until the Comparison page shows this widget); a model chosen before stays chosen."""
        if self.listed:
            return
        self.listed = True
        try:
            models = library_models()
        except (StudioError, OSError):
            models = []
        chosen = self.model.currentData()
        self.model.blockSignals(True)
        for i, (label, ref, _flow) in enumerate(models):
            at = self.model.findData(ref)
            if at >= 0:
                self.model.removeItem(at)
            self.model.insertItem(i, label, ref)
        if chosen is not None:
            self.model.setCurrentIndex(self.model.findData(chosen))
        self.model.blockSignals(False)
        self._model_changed()

    def _model_changed(self, *_) -> None:
        """A flow-map model defaults to the flow-map solver."""
        label = self.model.currentText()
        if label.startswith("flow map") and self.solver.findData("flow-map") >= 0:
            self.solver.setCurrentIndex(self.solver.findData("flow-map"))

    def _pick(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model for a comparison row",
                                              self._base_dir() or "",
                                              "Model files (*.safetensors)")
        if path:
            from ...core.untrusted import approve
            approve([path])  # the user's own choice: readable wherever it lies
            self.set_model(path)

    def set_model(self, ref: str) -> None:
        """Select a model by its reference (``assets:NAME.safetensors`` or a path)."""
        self.list_models()
        i = self.model.findData(ref)
        if i < 0:
            self.model.addItem(ref, ref)
            i = self.model.count() - 1
        self.model.setCurrentIndex(i)
        self._model_changed()

    def _add_clicked(self) -> None:
        try:
            self.add_row()
        except StudioError as exc:
            self.target.setStyleSheet(INVALID_STYLE)
            self.target.setToolTip(str(exc))
            return
        self.target.setStyleSheet("")

    def row_text(self) -> str:
        return f"{self.solver.currentData()}@{self.model.currentData()}"

    def add_row(self) -> str:
        """Append this row to the target field (checked first; raises StudioError if bad)."""
        self.list_models()
        if self.model.currentData() is None:
            raise StudioError("choose a model for the row", "model rows")
        text = self.row_text()
        parse_solver(text, "model rows")
        rows = parse_list(self.target.text())
        if text not in rows:
            rows.append(text)
        self.target.setText(", ".join(rows))
        return text

"""Editors for one parameter, generated from its engine declaration (:class:`ParamSpec`).

Each field shows the value a node uses (its own, else the default in grey), validates what is typed
against the declared type, range and choices as it is typed (red, with the reason as tooltip), and
emits :attr:`ParamField.committed` with a valid value, or :data:`UNSET` to fall back to the default.
"""
from __future__ import annotations

import json
import math
import os
import typing
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLineEdit,
                               QPlainTextEdit, QSpinBox, QToolButton, QWidget)

from ..core.errors import StudioError
from ..core.params import ParamSpec, check_value
from .document import UNSET

INVALID_STYLE = "border: 1px solid #e0564a; background: #3a2422;"


def describe(spec: ParamSpec) -> str:
    """The tooltip of a parameter: its doc, type, range, choices and default."""
    lines = [spec.doc or spec.name, f"type: {spec.type_name.replace(' | null', '')}"]
    if spec.min is not None or spec.max is not None:
        lo = "-∞" if spec.min is None else f"{spec.min:g}"
        hi = "∞" if spec.max is None else f"{spec.max:g}"
        lines.append(f"range: [{lo}, {hi}]")
    if spec.choices is not None:
        lines.append("choices: " + ", ".join(map(str, spec.choices)))
    lines.append(default_text(spec))
    return "\n".join(lines)


def default_text(spec: ParamSpec) -> str:
    """What an empty field means, in words: "(required)", "default: 0.1", or for a parameter
    whose default is None "optional: leave empty to leave it unset" (never "default: null")."""
    if spec.required:
        return "(required)"
    if spec.default is None:
        return "optional: leave empty to leave it unset"
    return f"default: {json.dumps(spec.default)}"


def _optional(tp) -> bool:
    return type(None) in typing.get_args(tp)


def _core(tp):
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if _optional(tp) and len(args) == 1 else tp


class ParamField(QWidget):
    committed = Signal(object)

    def __init__(self, spec: ParamSpec, where: str, parent=None):
        super().__init__(parent)
        self.spec, self.where = spec, where
        self.error: str | None = None
        self.setToolTip(describe(spec))
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)

    def set_value(self, value: Any, is_set: bool) -> None:
        raise NotImplementedError

    def validate(self, value: Any) -> Any:
        return check_value(self.spec, value, self.where)

    def _mark(self, widget: QWidget, error: str | None) -> None:
        self.error = error
        widget.setStyleSheet(INVALID_STYLE if error else "")
        widget.setToolTip(f"{error}\n\n{describe(self.spec)}" if error else describe(self.spec))


class BoolField(ParamField):
    def __init__(self, spec, where, parent=None):
        super().__init__(spec, where, parent)
        self.box = QCheckBox()
        self.box.toggled.connect(lambda on: self.committed.emit(bool(on)))
        self._lay.addWidget(self.box)
        self._lay.addStretch(1)

    def set_value(self, value, is_set):
        self.box.blockSignals(True)
        self.box.setChecked(bool(value))
        self.box.blockSignals(False)


class ChoiceField(ParamField):
    def __init__(self, spec, where, parent=None):
        super().__init__(spec, where, parent)
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(8)
        self.values = list(spec.choices or ())
        for v in self.values:
            self.combo.addItem(str(v) + ("  (default)" if v == spec.default else ""))
        self.combo.activated.connect(lambda i: self.committed.emit(self.values[i]))
        self._lay.addWidget(self.combo, 1)

    def set_value(self, value, is_set):
        self.combo.blockSignals(True)
        if value in self.values:
            self.combo.setCurrentIndex(self.values.index(value))
        self.combo.blockSignals(False)


class IntField(ParamField):
    """A spin box for a plain integer with its declared range."""

    def __init__(self, spec, where, parent=None):
        super().__init__(spec, where, parent)
        self.spin = QSpinBox()
        lo = -2 ** 31 + 1 if spec.min is None else max(int(math.ceil(spec.min)), -2 ** 31 + 1)
        hi = 2 ** 31 - 1 if spec.max is None else min(int(spec.max), 2 ** 31 - 1)
        self.spin.setRange(lo, hi)
        self.spin.setKeyboardTracking(False)
        self.spin.valueChanged.connect(lambda v: self.committed.emit(int(v)))
        self._lay.addWidget(self.spin, 1)

    def set_value(self, value, is_set):
        self.spin.blockSignals(True)
        if isinstance(value, int):
            self.spin.setValue(value)
        self.spin.blockSignals(False)


class TextField(ParamField):
    """Any other type, typed as JSON (strings may be typed bare). Empty means the default."""

    def __init__(self, spec, where, parent=None):
        super().__init__(spec, where, parent)
        self.edit = self._make_editor()
        self._committed_text = ""
        self._lay.addWidget(self.edit, 1)
        if spec.ui in ("path", "model", "folder"):
            browse = QToolButton()
            browse.setText("…")
            browse.setToolTip("Choose a model file (or pick one in the model browser)"
                              if spec.ui == "model" else "Choose a folder" if spec.ui == "folder"
                              else "Choose a file")
            browse.clicked.connect(self._browse)
            self._lay.addWidget(browse)

    def _make_editor(self):
        edit = QLineEdit()
        edit.setPlaceholderText(default_text(self.spec))
        edit.textEdited.connect(lambda _t: self.check())
        edit.editingFinished.connect(self.commit)
        return edit

    def text(self) -> str:
        return self.edit.text()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def format(self, value) -> str:
        if isinstance(value, str) and _core(self.spec.type) in (str, Any):
            return value
        return json.dumps(value)

    def parse(self, text: str) -> Any:
        """The typed value, UNSET for empty text; raises StudioError if invalid."""
        text = text.strip()
        if not text:
            if self.spec.required:
                raise StudioError("a value is required", self.where)
            return UNSET
        core = _core(self.spec.type)
        try:
            value = json.loads(text)
        except ValueError:
            if core in (str, Any) or self.spec.ui == "path":
                value = text
            else:
                raise StudioError("not a valid value: type a number, true/false, null, or a "
                                  "[list] in JSON", self.where) from None
        if core is str and not isinstance(value, str):
            value = text
        return self.validate(value)

    def check(self) -> Any:
        try:
            value = self.parse(self.text())
        except StudioError as exc:
            self._mark(self.edit, exc.problem)
            return None
        self._mark(self.edit, None)
        return value

    def commit(self) -> None:
        if self.text() == self._committed_text:
            return
        try:
            value = self.parse(self.text())
        except StudioError as exc:
            self._mark(self.edit, exc.problem)
            return
        self._mark(self.edit, None)
        self._committed_text = self.text()
        if getattr(self.spec, "ui", None) in ("path", "model") and isinstance(value, str) \
                and os.path.isabs(os.path.expanduser(value)):
            from ..core.untrusted import approve
            approve([value])  # typed by the user: readable wherever it lies
        self.committed.emit(value)

    def set_value(self, value, is_set):
        text = self.format(value) if is_set else ""
        self._committed_text = text
        self.edit.blockSignals(True)
        self.set_text(text)
        self.edit.blockSignals(False)
        self._mark(self.edit, None)

    def _browse(self) -> None:
        if self.spec.ui == "folder":
            path = QFileDialog.getExistingDirectory(self, f"Choose {self.spec.name}")
            if path:
                self.set_text(path)
                self.commit()
            return
        kinds = ("Model files (*.safetensors);;All files (*)" if self.spec.ui == "model"
                 else "NumPy arrays (*.npy);;All files (*)")
        path, _ = QFileDialog.getOpenFileName(self, f"Choose {self.spec.name}", "", kinds)
        if path:
            from ..core.untrusted import approve
            approve([path])  # the user's own choice: readable wherever it lies
            self.set_text(path)
            self.commit()


class _PlainEdit(QPlainTextEdit):
    focusLost = Signal()

    def focusOutEvent(self, event):
        super().focusOutEvent(event)
        self.focusLost.emit()

    def keyPressEvent(self, event):
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and event.modifiers() & Qt.ControlModifier:
            self.focusLost.emit()
            return
        super().keyPressEvent(event)


class MatrixField(TextField):
    """A nested list, one row per line (Ctrl+Enter or leaving the field applies it)."""

    def _make_editor(self):
        edit = _PlainEdit()
        edit.setPlaceholderText(default_text(self.spec))
        edit.setTabChangesFocus(True)
        edit.setMaximumHeight(96)
        edit.setLineWrapMode(QPlainTextEdit.NoWrap)
        edit.textChanged.connect(self.check)
        edit.focusLost.connect(self.commit)
        return edit

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)

    def format(self, value) -> str:
        if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
            return "[\n" + ",\n".join(json.dumps(r) for r in value) + "\n]"
        return json.dumps(value)


def make_field(spec: ParamSpec, where: str) -> ParamField:
    core = _core(spec.type)
    if spec.choices is not None and not _optional(spec.type):
        return ChoiceField(spec, where)
    if core is bool and not _optional(spec.type):
        return BoolField(spec, where)
    if core is int and not _optional(spec.type):
        return IntField(spec, where)
    if spec.ui == "matrix":
        return MatrixField(spec, where)
    return TextField(spec, where)

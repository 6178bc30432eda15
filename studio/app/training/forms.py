"""Forms generated from the engine's parameter declarations, for the training settings.

They reuse the inspector's field editors (:func:`studio.app.fields.make_field`): every field shows
the value in use (its own, else the default in grey), validates what is typed against the declared
type, range and choices, and falls back to the default when cleared. A form keeps only the values
the user set, so the configuration it produces stays as short as the JSON a user would write.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QToolButton, QVBoxLayout, QWidget

from ...core.params import ParamSpec, param_specs
from ..fields import ParamField, TextField, make_field
from ..forms import SpecForm as BaseSpecForm
from ..forms import effective  # noqa: F401 - part of this module's interface


class FolderField(TextField):
    """A folder path: typed, or chosen with a dialog."""

    def __init__(self, spec, where, parent=None):
        super().__init__(spec, where, parent)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose a folder")
        browse.clicked.connect(self._browse_folder)
        self._lay.addWidget(browse)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Choose {self.spec.name}", self.text())
        if folder:
            self.set_text(folder)
            self.commit()


def make_form_field(spec: ParamSpec, where: str) -> ParamField:
    if spec.ui == "folder":
        return FolderField(spec, where)
    return make_field(spec, where)


class SpecForm(BaseSpecForm):
    """The app's form builder (:class:`studio.app.forms.SpecForm`) with folder fields."""

    def __init__(self, specs: Iterable[ParamSpec], where: str, values: dict | None = None,
                 parent=None):
        super().__init__(specs, where, values, parent, factory=make_form_field)


class KindForm(QWidget):
    """A kind chosen from a registry (data set, architecture, process) and its parameters.

    Each kind remembers its own values, so switching back and forth keeps what was typed."""

    changed = Signal()
    kindChanged = Signal(str)

    def __init__(self, registry, where: str, parent=None):
        super().__init__(parent)
        self.registry, self.where = registry, where
        self._values: dict[str, dict] = {}
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(16)
        for kind in registry.ids():
            title = getattr(registry.get(kind), "title", "") or kind
            self.combo.addItem(f"{title}  ({kind})" if title != kind else kind, kind)
        self.combo.activated.connect(lambda i: self.set_kind(self.combo.itemData(i)))
        self.doc = QLabel()
        self.doc.setWordWrap(True)
        self.doc.setStyleSheet("color: #9aa4ae; font-size: 11px;")
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(4)
        self._lay.addWidget(self.combo)
        self._lay.addWidget(self.doc)
        self.form: SpecForm | None = None
        self._kind = ""
        self.set_kind(registry.ids()[0])

    def kind(self) -> str:
        """The kind whose form is shown."""
        return self._kind

    def params(self) -> dict:
        return self.form.values() if self.form is not None else {}

    def problems(self) -> list[str]:
        return self.form.problems() if self.form is not None else []

    def set(self, kind: str, params: dict | None = None) -> None:
        """Choose ``kind`` with exactly ``params`` (raises StudioError for an unknown kind)."""
        self.registry.get(kind, self.where)
        self._keep()
        self._values[kind] = dict(params or {})
        self._show(kind)

    def set_kind(self, kind: str) -> None:
        """Choose ``kind`` with the values it had last (the user picked it)."""
        if self.form is not None and kind == self.kind():
            return
        self._keep()
        self._show(kind)

    def _keep(self) -> None:
        if self.form is not None:
            self._values[self._kind] = self.form.values()

    def _show(self, kind: str) -> None:
        self._kind = kind
        i = self.combo.findData(kind)
        self.combo.setCurrentIndex(i)
        cls = self.registry.get(kind)
        self.doc.setText(" ".join((cls.__doc__ or "").split()))
        specs = [s for s in param_specs(cls) if not s.name.startswith("_")]
        form = SpecForm(specs, f"{self.where}.params", self._values.get(kind))
        form.changed.connect(self.changed)
        if self.form is not None:
            self._lay.removeWidget(self.form)
            self.form.hide()
            self.form.deleteLater()
        self.form = form
        self._lay.addWidget(form)
        self.kindChanged.emit(kind)
        self.changed.emit()

    def instance(self):
        """The plugin built from the form (raises StudioError)."""
        from ...core.params import build
        return build(self.registry.get(self.kind()), self.params(), f"{self.where}.params")


def section_specs(cls: type, replace: dict[str, dict] | None = None) -> list[ParamSpec]:
    """The parameter specs of a configuration dataclass, some with amended metadata (e.g.
    choices read from a registry)."""
    out = []
    for s in param_specs(cls):
        if replace and s.name in replace:
            s = dataclasses.replace(s, **replace[s.name])
        out.append(s)
    return out


__all__ = ["FolderField", "SpecForm", "KindForm", "section_specs", "make_form_field"]

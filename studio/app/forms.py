"""The one form builder: a form from parameter declarations (:class:`~studio.core.params.ParamSpec`).

The inspector's node forms, the training settings, the diagnostics settings and the inverse-problem
forms all build their fields here: one field per spec (:func:`studio.app.fields.make_field`: the
spec's range, choices, default and meaning), the same label and tooltip, the same handling of
"not set" (the declared default applies) and of invalid text (kept, marked, not applied).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from ..core.errors import StudioError
from ..core.params import ParamSpec
from ..core.params import build as build_params
from .document import UNSET
from .fields import ParamField, make_field


def effective(spec: ParamSpec, values: dict) -> Any:
    """The value in force: the one set, else the declared default (None if required)."""
    if spec.name in values:
        return values[spec.name]
    return None if spec.required else spec.default


def label_text(name: str) -> str:
    return name.replace("_", " ")


class SpecForm(QWidget):
    """One field per spec; :meth:`values` holds the parameters the user set (the others take their
    defaults). ``changed`` after any commit; ``committed(name, value or UNSET)`` for each."""

    changed = Signal()
    committed = Signal(str, object)

    def __init__(self, specs: Iterable[ParamSpec], where: str, values: dict | None = None,
                 parent=None, factory: Callable[[ParamSpec, str], ParamField] = make_field):
        super().__init__(parent)
        self.where = where
        self.specs = {s.name: s for s in specs}
        self._values: dict = {k: v for k, v in (values or {}).items() if k in self.specs}
        self.fields: dict[str, ParamField] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        for spec in self.specs.values():
            field = factory(spec, f"{where}.{spec.name}")
            field.committed.connect(lambda value, name=spec.name: self._commit(name, value))
            label = QLabel(label_text(spec.name))
            label.setToolTip(field.toolTip())
            form.addRow(label, field)
            self.fields[spec.name] = field
        self.load()

    # -- values ----------------------------------------------------------------------------------
    def values(self) -> dict:
        return dict(self._values)

    def set_values(self, values: dict | None) -> None:
        self._values = {k: v for k, v in (values or {}).items() if k in self.specs}
        self.load()

    def set(self, name: str, value) -> None:
        """Set one parameter (as if typed)."""
        if name in self.specs:
            self._values[name] = value
            self.fields[name].set_value(value, True)

    def load(self, values: dict | None = None) -> None:
        """Show ``values`` (the ones set; the others show their defaults), or the form's own."""
        if values is not None:
            self._values = {k: v for k, v in values.items() if k in self.specs}
        for name, field in self.fields.items():
            field.set_value(effective(field.spec, self._values), name in self._values)

    def problems(self) -> list[str]:
        """Fields holding text that is not a valid value (not applied)."""
        return [f"{self.where}.{n}: {f.error}" for n, f in self.fields.items() if f.error]

    def build(self, cls):
        """An instance of the params dataclass ``cls``; StudioError names a bad field."""
        for name, f in self.fields.items():
            if f.error:
                raise StudioError(f.error, f"{self.where}.{name}")
        return build_params(cls, self._values, self.where)

    def _commit(self, name: str, value) -> None:
        if value is UNSET:
            self._values.pop(name, None)
        else:
            self._values[name] = value
        self.committed.emit(name, value)
        self.changed.emit()

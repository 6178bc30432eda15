"""A spin box for 64-bit seeds (a QSpinBox holds only 32-bit values and would clip a pipeline's
seed >= 2**31 silently)."""
from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QStyle

SEED_MIN, SEED_MAX = -(2 ** 63), 2 ** 63 - 1


class SeedBox(QAbstractSpinBox):
    """An integer spin box over any Python int in [minimum, maximum] (default: 64-bit signed)."""

    valueChanged = Signal(object)

    def __init__(self, parent=None, minimum: int = SEED_MIN, maximum: int = SEED_MAX):
        super().__init__(parent)
        self._min, self._max, self._value = int(minimum), int(maximum), 0
        self.lineEdit().setText("0")
        self.editingFinished.connect(self._commit)

    def sizeHint(self) -> QSize:   # noqa: N802 - Qt naming
        """Room for ten digits (QAbstractSpinBox knows no range to size itself by: it would
        show one digit, clipped)."""
        base = super().sizeHint()
        return QSize(max(base.width(), self._width_for(10)), base.height())

    def minimumSizeHint(self) -> QSize:   # noqa: N802
        base = super().minimumSizeHint()
        return QSize(max(base.width(), self._width_for(6)), base.height())

    def _width_for(self, digits: int) -> int:
        buttons = self.style().pixelMetric(QStyle.PM_ScrollBarExtent) + 12
        return self.fontMetrics().horizontalAdvance("8" * digits) + buttons

    def setRange(self, minimum: int, maximum: int) -> None:
        self._min, self._max = int(minimum), int(maximum)
        self.setValue(self._value)

    def minimum(self) -> int:
        return self._min

    def maximum(self) -> int:
        return self._max

    def value(self) -> int:
        return self._value

    def setValue(self, value: int) -> None:
        value = max(self._min, min(self._max, int(value)))
        changed = value != self._value
        self._value = value
        if self.lineEdit().text() != str(value):
            self.lineEdit().setText(str(value))
        if changed:
            self.valueChanged.emit(value)

    def stepBy(self, steps: int) -> None:
        self.setValue(self._value + steps)

    def stepEnabled(self):
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self._value > self._min:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        if self._value < self._max:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        return flags

    def validate(self, text: str, pos: int):
        t = text.strip()
        if t in ("", "-", "+"):
            return QValidator.State.Intermediate, text, pos
        try:
            v = int(t)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        state = (QValidator.State.Acceptable if self._min <= v <= self._max
                 else QValidator.State.Intermediate)
        return state, text, pos

    def fixup(self, text: str) -> str:
        return str(self._value)

    def _commit(self) -> None:
        try:
            self.setValue(int(self.lineEdit().text().strip()))
        except ValueError:
            self.lineEdit().setText(str(self._value))

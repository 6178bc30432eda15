"""A label that elides its text to the room it has and shows the whole text as its tooltip
(instead of cutting it, or forcing its panel wider)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent=None, mode=Qt.ElideMiddle, min_chars: int = 6):
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._min_chars = min_chars
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setTextFormat(Qt.PlainText)
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self._full = text or ""
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        fm = QFontMetrics(self.font())
        shown = fm.elidedText(self._full, self._mode, max(self.width(), 1))
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")

    def sizeHint(self) -> QSize:  # noqa: N802
        fm = QFontMetrics(self.font())
        return QSize(fm.horizontalAdvance(self._full) + 4, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        fm = QFontMetrics(self.font())
        return QSize(fm.horizontalAdvance("x" * self._min_chars), super().minimumSizeHint().height())


class StatusBar(QStatusBar):
    """A status bar whose message is an elided label beside the permanent widgets, the whole
    message in its tooltip: a long message never runs under them nor stops mid-letter."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.line = ElidedLabel("", mode=Qt.ElideRight)
        self.line.setObjectName("statusLine")
        self.line.setContentsMargins(4, 0, 4, 0)
        self.addPermanentWidget(self.line, 1)
        self.messageChanged.connect(self.line.setText)

    def paintEvent(self, event) -> None:  # noqa: N802 - the label shows the message
        pass


class _ElideCombo(QObject):
    """Paints a (non-editable) combo box's current text elided to its field, "…" where it is cut,
    instead of clipping it; the whole text is the tooltip when the combo has none of its own."""

    def eventFilter(self, combo, event) -> bool:  # noqa: N802 - Qt naming
        if event.type() != QEvent.Paint:
            return False
        from PySide6.QtWidgets import QStyle, QStyleOptionComboBox, QStylePainter
        opt = QStyleOptionComboBox()
        combo.initStyleOption(opt)
        p = QStylePainter(combo)
        p.drawComplexControl(QStyle.CC_ComboBox, opt)
        field = combo.style().subControlRect(QStyle.CC_ComboBox, opt,
                                             QStyle.SC_ComboBoxEditField, combo)
        opt.currentText = combo.fontMetrics().elidedText(opt.currentText, Qt.ElideRight,
                                                         max(8, field.width() - 4))
        p.drawControl(QStyle.CE_ComboBoxLabel, opt)
        p.end()
        return True


def shrinkable_combos(root, chars: int = 12, shrink: bool = True) -> None:
    """Let the (non-editable) combo boxes under ``root`` shrink to ``chars`` characters instead of
    asking for the width of their longest item (``shrink``), and show their choice elided where
    it does not fit (the drop-down list shows the items whole, the tooltip the choice)."""
    from PySide6.QtWidgets import QComboBox
    painter = root.findChild(_ElideCombo, "elideCombos")
    if painter is None:
        painter = _ElideCombo(root)
        painter.setObjectName("elideCombos")
    for combo in root.findChildren(QComboBox):
        if combo.isEditable():
            continue
        if shrink:
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(chars)
        combo.installEventFilter(painter)
        if not combo.toolTip():
            combo.currentTextChanged.connect(combo.setToolTip)
            combo.setToolTip(combo.currentText())

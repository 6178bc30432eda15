"""The start page: an overlay over the main window on the first start (and from Help > Start
page) with the featured examples as cards, the other examples and the recent files.

A card opens its example with one click (or Enter). Esc, the Close button or a click beside the
page dismisses it; "Show at every start" keeps it coming back. The page holds no state of its own
beyond what it shows: the window's settings and the example pictures.
"""
from __future__ import annotations

import html
import os

from PySide6.QtCore import QEvent, QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (QApplication, QCheckBox, QFrame, QGridLayout, QHBoxLayout, QLabel,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from .examples import Example, ExamplePictures, featured, others

SEEN_KEY = "startpage/seen"
ALWAYS_KEY = "startpage/always"
THUMB = 176


def _mix(a: QColor, b: QColor, t: float) -> str:
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t)).name()


class ExampleCard(QFrame):
    """One featured example: picture, title, a line of text; click to open."""

    clicked = Signal(str)

    def __init__(self, example: Example, parent=None):
        super().__init__(parent)
        self.example = example
        self.setObjectName("exampleCard")
        self.setFocusPolicy(Qt.StrongFocus if example.available else Qt.NoFocus)
        self.setCursor(Qt.PointingHandCursor if example.available else Qt.ArrowCursor)
        self.picture = QLabel("drawing…" if example.available else "not installed")
        self.picture.setObjectName("examplePicture")
        self.picture.setFixedSize(THUMB, THUMB)
        self.picture.setAlignment(Qt.AlignCenter)
        self.title = QLabel(f"<b>{html.escape(example.title)}</b>")
        self.text = QLabel(html.escape(example.text if example.available else
                                       f"{example.text} ({example.missing}.)"))
        self.text.setWordWrap(True)
        self.text.setObjectName("exampleText")
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.text.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.text.setMinimumHeight(self.text.fontMetrics().lineSpacing() * 5)
        pic_row = QHBoxLayout()
        pic_row.addStretch(1)
        pic_row.addWidget(self.picture)
        pic_row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(6)
        lay.addLayout(pic_row)
        lay.addWidget(self.title)
        lay.addWidget(self.text)
        lay.addStretch(1)
        self.setToolTip(f"Open {example.path.name}" if example.available else example.missing)
        self.setEnabled(example.available)

    def set_picture(self, png: bytes) -> None:
        pm = QPixmap()
        if pm.loadFromData(png, "PNG"):
            self.picture.setPixmap(pm.scaled(THUMB, THUMB, Qt.KeepAspectRatio,
                                             Qt.SmoothTransformation))

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.example.key)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Space):
            self.clicked.emit(self.example.key)
            return
        super().keyPressEvent(event)


class StartPage(QWidget):
    """The overlay; a child of the main window, kept over its whole area."""

    exampleChosen = Signal(str)      # example key
    fileChosen = Signal(str)         # a path (other examples, recent files)
    dismissed = Signal()

    def __init__(self, window, pictures: ExamplePictures, examples=featured):
        super().__init__(window)
        self.examples = examples           # () -> the featured examples
        self.setObjectName("startPage")
        self.win = window
        self.pictures = pictures
        self.cards: dict[str, ExampleCard] = {}
        self.panel = QFrame(self)
        self.panel.setObjectName("startPanel")
        pictures.ready.connect(self._picture_ready)

        heading = QLabel("<span style='font-size:18pt; font-weight:600'>Diffusion Studio</span>")
        icon = QLabel()
        try:
            from ..resources import app_icon
            icon.setPixmap(app_icon().pixmap(40, 40))
        except Exception:  # noqa: BLE001 - the icon is cosmetic
            pass
        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(icon)
        top.addWidget(heading, 1)
        sub = QLabel("Build, run, inspect and compare diffusion and flow generative models. Open an "
                     "example with one click, or close this page to start from the pipeline on the "
                     "canvas.")
        sub.setWordWrap(True)
        sub.setObjectName("startSubtitle")
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(12)
        self.more = QLabel()
        self.more.setObjectName("startMore")
        self.more.setWordWrap(True)
        self.more.setTextFormat(Qt.RichText)
        self.more.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.more.linkActivated.connect(self.fileChosen)
        self.recent = QLabel()
        self.recent.setObjectName("startRecent")
        self.recent.setWordWrap(True)
        self.recent.setTextFormat(Qt.RichText)
        self.recent.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.recent.linkActivated.connect(self.fileChosen)
        lists = QHBoxLayout()
        lists.setSpacing(24)
        lists.addWidget(self.more, 1)
        lists.addWidget(self.recent, 1)
        self.always = QCheckBox("Show this page at every start")
        self.always.setToolTip("Help > Start page opens it at any time")
        self.always.toggled.connect(lambda on: window.settings.set_value(ALWAYS_KEY, bool(on)))
        hint = QLabel("Help > Start page brings it back.")
        hint.setObjectName("startHint")
        self.close_button = QPushButton("Close")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.dismiss)
        footer = QHBoxLayout()
        footer.addWidget(self.always)
        footer.addSpacing(12)
        footer.addWidget(hint)
        footer.addStretch(1)
        footer.addWidget(self.close_button)
        lay = QVBoxLayout(self.panel)
        lay.setContentsMargins(24, 20, 24, 16)
        lay.setSpacing(10)
        lay.addLayout(top)
        lay.addWidget(sub)
        lay.addSpacing(4)
        lay.addLayout(self.grid)
        lay.addSpacing(4)
        lay.addLayout(lists)
        lay.addStretch(1)
        lay.addLayout(footer)
        window.installEventFilter(self)
        self.hide()

    # -- showing -------------------------------------------------------------------------------
    def open(self) -> None:
        self._fill()
        self._restyle()
        self.always.blockSignals(True)
        self.always.setChecked(_truthy(self.win.settings.value(ALWAYS_KEY, False)))
        self.always.blockSignals(False)
        self._fit()
        self.show()
        self.raise_()
        first = next((c for c in self.cards.values() if c.example.available), None)
        (first or self.close_button).setFocus()

    def dismiss(self) -> None:
        if self.isVisible():
            self.win.view.setFocus()       # the canvas, not whichever field is next in the chain
            self.hide()
            self.win.settings.set_value(SEEN_KEY, True)
            self.dismissed.emit()

    def _fill(self) -> None:
        for card in self.cards.values():
            card.setParent(None)
            card.deleteLater()
        self.cards = {}
        for i, ex in enumerate(self.examples()):
            card = ExampleCard(ex, self.panel)
            card.clicked.connect(self.exampleChosen)
            self.grid.addWidget(card, 0, i)
            self.cards[ex.key] = card
            png = self.pictures.request(ex)
            if png:
                card.set_picture(png)
        rest = others()
        self.more.setText("<b>More examples</b><br>" + ("<br>".join(
            f"<a href='{html.escape(str(e.path))}'>{html.escape(e.title)}</a> "
            f"<span style='color:#8a949e'>{html.escape(e.text)}</span>" for e in rest)
            if rest else "<span style='color:#8a949e'>none</span>"))
        recent = [p for p in self.win.settings.recent_files() if os.path.exists(p)][:5]
        self.recent.setText("<b>Recent</b><br>" + ("<br>".join(
            f"<a href='{html.escape(p)}'>{html.escape(os.path.basename(p))}</a> "
            f"<span style='color:#8a949e'>{html.escape(os.path.dirname(p))}</span>" for p in recent)
            if recent else "<span style='color:#8a949e'>nothing yet: pipelines you open or save "
                           "show up here</span>"))

    def _picture_ready(self, key: str, png: bytes) -> None:
        if key in self.cards:
            self.cards[key].set_picture(png)

    def _restyle(self) -> None:
        pal = QApplication.palette()
        window, base, text = pal.window().color(), pal.base().color(), pal.text().color()
        border, high = _mix(window, text, 0.18), pal.highlight().color().name()
        self.panel.setStyleSheet(
            f"QFrame#startPanel {{ background: {window.name()}; border: 1px solid {border}; "
            f"border-radius: 10px; }}"
            f"QFrame#exampleCard {{ background: {base.name()}; border: 1px solid {border}; "
            f"border-radius: 8px; }}"
            f"QFrame#exampleCard:hover, QFrame#exampleCard:focus {{ border: 2px solid {high}; }}"
            f"QLabel#examplePicture {{ background: #101418; color: #8a949e; border-radius: 4px; }}"
            f"QLabel#exampleText, QLabel#startSubtitle, QLabel#startHint {{ color: "
            f"{_mix(text, window, 0.35)}; }}")

    def _fit(self) -> None:
        win = self.win
        top = win.menuBar().geometry().bottom() + 1 if win.menuBar().isVisible() else 0
        bottom = win.statusBar().geometry().top() if win.statusBar().isVisible() else win.height()
        self.setGeometry(QRect(0, top, win.width(), max(100, bottom - top)))
        w = min(1000, self.width() - 48)
        h = min(self.panel.sizeHint().height() + 8, self.height() - 32)
        self.panel.setGeometry((self.width() - w) // 2, max(16, (self.height() - h) // 2), w, h)

    # -- events --------------------------------------------------------------------------------
    def eventFilter(self, obj, event) -> bool:
        if obj is self.win and event.type() == QEvent.Resize and self.isVisible():
            self._fit()
        return False

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.PaletteChange and self.isVisible():
            self._restyle()
        super().changeEvent(event)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(6, 8, 10, 165))
        p.end()

    def mousePressEvent(self, event) -> None:
        if not self.panel.geometry().contains(event.position().toPoint()):
            self.dismiss()
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Escape:
            self.dismiss()
            return
        super().keyPressEvent(event)


def _truthy(v) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in ("true", "1", "yes"))


def should_show(settings) -> bool:
    """At start: the first time, and every time with "Show at every start"."""
    return not _truthy(settings.value(SEEN_KEY, False)) or _truthy(settings.value(ALWAYS_KEY, False))

"""The log: a list of timestamped messages (model) and a read-only view of it."""
from __future__ import annotations

import html
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPlainTextEdit

from .colors import DARK, Colors, Themed, current

#: the dark theme's colour per level (the view takes the current theme's, see studio.app.colors)
COLORS = DARK.log


class LogModel(QObject):
    appended = Signal(str, str, str)     # time, level, text

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[tuple[str, str, str]] = []

    def add(self, level: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.entries.append((stamp, level, text))
        self.appended.emit(stamp, level, text)

    def info(self, text: str) -> None:
        self.add("info", text)

    def ok(self, text: str) -> None:
        self.add("ok", text)

    def warning(self, text: str) -> None:
        self.add("warning", text)

    def error(self, text: str) -> None:
        self.add("error", text)

    def text(self) -> str:
        return "\n".join(f"{t} {lvl}: {msg}" for t, lvl, msg in self.entries)


class LogView(QPlainTextEdit, Themed):
    def __init__(self, model: LogModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.colors = current()
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setLineWrapMode(QPlainTextEdit.WidgetWidth)
        model.appended.connect(self._append)
        for entry in model.entries:
            self._append(*entry)

    def apply_colors(self, c: Colors) -> None:
        """Rewrite the messages in the theme's colours (the background follows the palette)."""
        if c == self.colors:
            return
        self.colors = c
        self.clear()
        for entry in self.model.entries[-self.maximumBlockCount():]:
            self._append(*entry)

    def _append(self, stamp: str, level: str, text: str) -> None:
        c = self.colors
        body = html.escape(text).replace("\n", "<br>&nbsp;&nbsp;")
        self.appendHtml(f"<span style='color:{c.muted}'>{stamp}</span> "
                        f"<span style='color:{c.log.get(level, c.text)}'>{body}</span>")
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

"""The log: a list of timestamped messages (model) and a read-only view of it."""
from __future__ import annotations

import html
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPlainTextEdit

COLORS = {"info": "#c8d0d8", "warning": "#e8b04a", "error": "#e0564a", "ok": "#6cd27a"}


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


class LogView(QPlainTextEdit):
    def __init__(self, model: LogModel, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setLineWrapMode(QPlainTextEdit.WidgetWidth)
        model.appended.connect(self._append)
        for entry in model.entries:
            self._append(*entry)

    def _append(self, stamp: str, level: str, text: str) -> None:
        body = html.escape(text).replace("\n", "<br>&nbsp;&nbsp;")
        self.appendHtml(f"<span style='color:#7d8790'>{stamp}</span> "
                        f"<span style='color:{COLORS.get(level, '#c8d0d8')}'>{body}</span>")
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

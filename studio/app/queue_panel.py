"""The Queue workspace: the queued runs in order, with their state; move, cancel, pause, open."""
from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from .jobqueue import DONE, PENDING, RUNNING, JobQueue

ID_ROLE = Qt.UserRole + 1
MARKS = {PENDING: "◷", RUNNING: "▶", "finished": "✓", "failed": "✗", "cancelled": "–",
         "interrupted": "!"}
EMPTY = ("Nothing queued. Shift+Run (or Run > Queue run, Ctrl+Shift+R) queues the pipeline "
         "instead of running it; queued runs go one after the other and land in the Gallery.")


class QueuePanel(QWidget):
    openRequested = Signal(dict, object)        # pipeline dict, base_dir
    openComparison = Signal(str)                # a finished queued comparison's file

    def __init__(self, queue: JobQueue, parent=None):
        super().__init__(parent)
        self.queue = queue
        self.list = QListWidget()
        self.list.setObjectName("queueList")
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(lambda *_: self._sync())
        self.list.itemDoubleClicked.connect(lambda _it: self._open())
        self.empty = QLabel(EMPTY)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #8a949e; padding: 8px;")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m steps")
        b = self._button
        self.up_button = b("Up", "Run the selected job earlier", lambda: self._move(-1))
        self.down_button = b("Down", "Run the selected job later", lambda: self._move(1))
        self.cancel_button = b("Cancel", "Cancel the selected job (stop it if it runs)",
                               self._cancel)
        self.pause_button = b("Pause queue", "No new job starts while paused (the running one "
                              "finishes)", self._toggle_pause)
        self.clear_button = b("Clear finished", "Remove the finished, failed and cancelled jobs",
                              self.queue.remove_done)
        self.open_button = b("Open pipeline", "Put the selected job's pipeline on the canvas",
                             self._open)
        row = QHBoxLayout()
        for w in (self.up_button, self.down_button, self.cancel_button, self.pause_button,
                  self.clear_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.open_button)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.empty)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.progress)
        queue.changed.connect(self.refresh)
        queue.controller.updated.connect(self._progress)
        self.refresh()

    def _button(self, text, tip, slot) -> QPushButton:
        btn = QPushButton(text)
        btn.setToolTip(tip)
        btn.clicked.connect(slot)
        return btn

    def selected_id(self) -> str | None:
        it = self.list.currentItem()
        return it.data(ID_ROLE) if it is not None else None

    def refresh(self) -> None:
        keep = self.selected_id()
        self.list.blockSignals(True)
        self.list.clear()
        for j in self.queue.jobs:
            when = time.strftime("%H:%M", time.localtime(j.created))
            text = f"{MARKS.get(j.status, '?')}  {j.title} — {j.status} (queued {when})"
            if j.message and j.status in DONE:
                text += f"\n    {j.message.splitlines()[0]}"
            it = QListWidgetItem(text)
            it.setData(ID_ROLE, j.id)
            it.setToolTip(j.message or j.title)
            self.list.addItem(it)
            if j.id == keep:
                self.list.setCurrentItem(it)
        self.list.blockSignals(False)
        self.empty.setVisible(not self.queue.jobs)
        self.pause_button.setText("Resume queue" if self.queue.paused else "Pause queue")
        self.progress.setVisible(self.queue.running)
        self._sync()

    def _sync(self) -> None:
        j = self.queue.job(self.selected_id() or "")
        for w in (self.up_button, self.down_button):
            w.setEnabled(j is not None)
        self.open_button.setEnabled(j is not None and (
            j.kind == "run" or (j.kind == "compare" and j.status == "finished")))
        self.cancel_button.setEnabled(j is not None and j.status in (PENDING, RUNNING))

    def _progress(self) -> None:
        done, total = self.queue.state.progress()
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _move(self, delta: int) -> None:
        jid = self.selected_id()
        if jid and self.queue.move(jid, delta):
            self.refresh()

    def _cancel(self) -> None:
        jid = self.selected_id()
        if jid:
            self.queue.cancel(jid)

    def _toggle_pause(self) -> None:
        self.queue.set_paused(not self.queue.paused)

    def _open(self) -> None:
        j = self.queue.job(self.selected_id() or "")
        if j is None:
            return
        if j.kind == "run":
            self.openRequested.emit(j.pipeline, j.base_dir)
        elif j.kind == "compare" and j.status == "finished":
            self.openComparison.emit(j.message)

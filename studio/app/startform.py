"""Where runs start, edited in the inspector's run section: the prior, or analytic teleportation
(``run.start = {"kind": "teleport", "t": T}``, :mod:`studio.core.teleport`), for any solver.

The fields are the declarations of :class:`studio.app.runspecs.StartParams` (the app's one form
builder, :class:`studio.app.forms.SpecForm`); each change is one undoable ``SetRun`` on the
document, so it is saved in the pipeline JSON and runs exactly as ``studio run`` runs that file.
"""
from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .forms import SpecForm
from .runspecs import START_SPECS, start_of, start_values

HINT_STYLE = "color: #9aa4ae; font-size: 11px;"


class StartForm(QWidget):
    def __init__(self, doc, parent=None):
        super().__init__(parent)
        self.setObjectName("startForm")
        self.doc = doc
        self._shown = doc.run.start
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)
        head = QLabel("<b>Start</b>")
        head.setTextFormat(Qt.RichText)
        lay.addWidget(head)
        self.form = SpecForm(list(START_SPECS.values()), "run.start", start_values(doc.run.start))
        self.form.changed.connect(self._commit)
        lay.addWidget(self.form)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet(HINT_STYLE)
        lay.addWidget(self.note)
        self._refresh()

    @property
    def teleport(self) -> bool:
        return start_of(self.form.values()) is not None

    def _refresh(self) -> None:
        for name in ("t", "probe"):
            self.form.fields[name].setEnabled(self.teleport)
        start = self.doc.run.start
        if isinstance(start, dict) and start.get("kind", "data") == "data":
            self.note.setText(html.escape(
                f"This pipeline starts from data at t = {start.get('t')} (run.start in its file: "
                f"SDEdit); choosing a start here replaces it."))
        elif self.teleport:
            self.note.setText("The solver's grid is cut at t; the jump costs no network "
                              "evaluation (moments: exact for analytic networks, measured from a "
                              "trained model).")
        else:
            self.note.setText("")
        self.note.setVisible(bool(self.note.text()))

    def _commit(self) -> None:
        # a form left over from before the document changed underneath must not write into it
        if self.doc.run.start != self._shown:
            return
        value = start_of(self.form.values())
        self._shown = value
        self.doc.set_run("start", value)
        self._refresh()


__all__ = ["StartForm"]

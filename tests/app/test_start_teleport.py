"""The teleport start, chosen in the inspector's run section like the other run settings: saved in
the pipeline JSON (undoable), and a run started with it gives the samples `studio run` gives for
the same file."""
from __future__ import annotations

import json
import os

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.app.runspecs import START_SPECS, start_of, start_values

from .conftest import set_small


def _type(edit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, text)
    QTest.keyClick(edit, Qt.Key_Return)


def test_start_values_round_trip():
    assert start_of({}) is None and start_values(None) == {}
    assert start_of({"start": "teleport"}) == {"kind": "teleport", "t": START_SPECS["t"].default}
    tp = {"kind": "teleport", "t": 0.25, "probe": 64}
    assert start_of(start_values(tp)) == tp
    assert start_values({"t": 0.4, "x": "x.npy"}) == {}          # a data start: not this form's


def test_teleport_start_from_the_inspector_runs_like_the_cli(win, qtbot, tmp_path):
    from studio.cli.main import main
    set_small(win, batch=64, steps=10)
    win.inspector.show_nodes([])
    form = win.inspector.start_form
    assert not form.form.fields["t"].isEnabled()
    combo = form.form.fields["start"].combo
    i = form.form.fields["start"].values.index("teleport")
    combo.setCurrentIndex(i)
    combo.activated.emit(i)                                       # the user picks "teleport"
    assert win.doc.run.start == {"kind": "teleport", "t": 0.5}
    qtbot.waitUntil(lambda: win.inspector.start_form is not form, timeout=3000)   # rebuilt
    form = win.inspector.start_form
    assert form.form.fields["t"].isEnabled() and form.teleport
    _type(form.form.fields["t"].edit, "0.3")
    assert win.doc.run.start == {"kind": "teleport", "t": 0.3}
    assert win.doc.to_dict()["run"]["start"] == {"kind": "teleport", "t": 0.3}
    win.doc.undo_stack.undo()                           # one merged step: back to the prior
    assert win.doc.run.start is None
    win.doc.undo_stack.redo()
    assert win.doc.run.start == {"kind": "teleport", "t": 0.3}

    with qtbot.waitSignal(win.runFinished, timeout=60000) as done:
        assert win.run()
    assert done.args[0] == "finished", done.args
    shown = {b: r for b, r in win.state.results().items()}
    if os.environ.get("STUDIO_SHOT"):
        win.resize(1280, 800)
        qtbot.wait(100)
        win.grab().save(os.environ["STUDIO_SHOT"])
    path = tmp_path / "teleport.json"
    path.write_text(json.dumps(win.doc.to_dict()))
    out = str(tmp_path / "out.npz")
    assert main(["run", str(path), "--out", out, "--quiet"]) == 0
    res = np.load(out)
    for b, r in shown.items():
        np.testing.assert_allclose(res[f"{b}.samples"], r.samples.numpy(), rtol=1e-9, atol=1e-12)
    # the jump saved the evaluations above t = 0.3: a run from the prior costs more
    win.doc.set_run("start", None)
    with qtbot.waitSignal(win.runFinished, timeout=60000) as done:
        assert win.run()
    full = win.state.results()
    for b, r in shown.items():
        assert r.nfe < full[b].nfe
        assert not np.allclose(r.samples.numpy(), full[b].samples.numpy())


def test_a_data_start_from_the_file_is_shown_and_kept_until_replaced(win, qtbot):
    data = {"t": 0.5, "x": [0.0, 0.0]}
    win.doc.set_run("start", data)
    win.doc.undo_stack.clear()                       # as if the file had been opened with it
    win.inspector.show_nodes([])
    form = win.inspector.start_form
    assert "SDEdit" in form.note.text() and not form.teleport
    assert win.doc.run.start == data                 # showing it changes nothing
    i = form.form.fields["start"].values.index("teleport")
    form.form.fields["start"].combo.activated.emit(i)
    assert win.doc.run.start == {"kind": "teleport", "t": 0.5}
    win.doc.undo_stack.undo()
    assert win.doc.run.start == data

"""The comparison workspace with sweep axes: axes of any kind are offered from the pipeline, the
grid, table and error plot show every axis, and a saved sweep reopens with its axes."""
from __future__ import annotations

import os

from .test_compare_workspace import run_compare, setup_form


def test_axes_of_any_kind_in_the_workspace(win, qtbot, tmp_path):
    ws = win.compare
    win.docks["compare"].raise_()
    setup_form(ws, solvers=("euler",), nfes="4", batch=16, metrics=("rmse", "swd", "nfe"))
    box = ws.setup.axes_box
    ws.setup._describe()
    offered = [box.targets[0].itemText(i) for i in range(box.targets[0].count())]
    proc = next(n for n, node in win.doc.nodes.items() if node.type == "process")
    assert "run.seed" in offered and proc in offered and "euler.s_churn" not in offered
    param = next(t for t in offered if t.startswith(proc + "."))
    assert param
    box.targets[0].setEditText("run.seed")
    box.values[0].setText("0, 1, 2")
    box.targets[1].setEditText(proc)  # a whole node swapped
    box.values[1].setText("edm, vp-cosine")
    box.values[2].setText("1")  # a value without a target: named error, nothing runs
    assert not ws.run()
    box.values[2].setText("")
    status, _ = run_compare(qtbot, ws, timeout=60000)
    assert status == "finished"
    comp = ws.session.comparison
    assert [a.target for a in comp.spec.axes] == ["run.seed", proc]
    assert len(comp.results) == 6 and all(r.ok for r in comp.results.values())
    assert "run.seed" in comp.columns() and proc in comp.columns()
    # the error plot can put either axis on x
    dims = [ws.plot.dim.itemData(i) for i in range(ws.plot.dim.count())]
    assert dims == ["nfe", "run.seed", proc]
    ws.plot.dim.setCurrentIndex(1)
    assert sorted({x for x, _, _ in ws.plot.points}) == [0.0, 1.0, 2.0]
    ws.plot.dim.setCurrentIndex(2)
    assert sorted({x for x, _, _ in ws.plot.points}) == [0.0, 1.0]
    win.resize(1280, 800)
    win.grab().save(str(tmp_path / "axes.png"))
    if os.environ.get("STUDIO_SHOT"):
        win.grab().save(os.environ["STUDIO_SHOT"])
    # saved and reopened: the form shows the axes again
    path = str(tmp_path / "sweep.json")
    ws.session.save(path)
    box.set_axes([])
    assert ws.open_path(path)
    assert box.targets[0].currentText() == "run.seed" and box.values[0].text() == "0, 1, 2"
    assert box.values[1].text() == "edm, vp-cosine"
    # the executor and the Ray address are app settings
    box.executor.setCurrentIndex(box.executor.findData("ray"))
    box.address.setText("10.0.0.5:6379")
    box.address.editingFinished.emit()
    assert win.settings.value("compare/executor") == "ray"
    assert box.choice() == ("ray", "10.0.0.5:6379")
    box.executor.setCurrentIndex(box.executor.findData("local"))
    assert box.choice() == ("local", None)

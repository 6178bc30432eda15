"""The Comparison workspace: streams cells from the same noise, cancel, grid clicks open a cell
in the trajectory view, save / reopen, exports equal to `studio compare`'s."""
from __future__ import annotations

import csv
import io
import os

import numpy as np
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from studio.app.compare.setup import set_checked

from .conftest import shown_at

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "solver_race.json")


def setup_form(ws, solvers=("euler", "heun"), nfes="4, 8", batch=48, schedules=(),
               metrics=("rmse", "swd", "mmd", "nfe", "ms-per-sample")):
    ws.window.docks["compare"].raise_()
    set_checked(ws.setup.metrics, metrics)
    ws.setup.n_data.setValue(512)
    set_checked(ws.setup.solvers, solvers)
    set_checked(ws.setup.schedules, schedules)
    ws.setup.extra_solvers.setText("")
    ws.setup.nfes.setText(nfes)
    ws.setup.batch.setValue(batch)
    ws.setup.seed.setValue(3)


def hover(widget, pos) -> None:
    """A mouse move without buttons, delivered to the widget (QTest.mouseMove goes through the
    offscreen window's cursor and does not reach a viewport inside a dock)."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    p = QPointF(pos)
    QApplication.sendEvent(widget, QMouseEvent(QEvent.MouseMove, p, widget.mapToGlobal(p),
                                               Qt.NoButton, Qt.NoButton, Qt.NoModifier))


def double_click(widget, pos) -> None:
    """What a platform sends for a double-click: press, release, double-click, release
    (QTest.mouseDClick sends the double-click event alone)."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    p = QPointF(pos)
    for kind, buttons in ((QEvent.MouseButtonPress, Qt.LeftButton),
                          (QEvent.MouseButtonRelease, Qt.NoButton),
                          (QEvent.MouseButtonDblClick, Qt.LeftButton),
                          (QEvent.MouseButtonRelease, Qt.NoButton)):
        QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), Qt.LeftButton,
                                                   buttons, Qt.NoModifier))


def run_compare(qtbot, ws, timeout=30000):
    with qtbot.waitSignal(ws.session.finished, timeout=timeout) as blocker:
        assert ws.run()
    return blocker.args


def test_cells_stream_in_and_equal_direct_runs(win, qtbot):
    act = next(a for a in win.extra_menu_actions["&Tools"] if a.text() == "&Comparison workspace")
    act.trigger()
    assert win.docks["compare"].isVisible() and win.docks["compare"].widget() is win.compare
    ws = win.compare
    setup_form(ws)
    batches = []
    ws.session.cellsAdded.connect(lambda idx: batches.append(list(idx)))
    status, _ = run_compare(qtbot, ws)
    assert status == "finished"
    comp = ws.session.comparison
    assert comp.finished and len(comp.results) == 4
    # streamed: cells arrived as they finished, each exactly once
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3]
    for cell in comp.cells:
        res = comp.results[cell.index]
        direct = comp.spec.cell_pipeline(cell).build().run()[cell.solver.branch]
        torch.testing.assert_close(res.samples, direct.samples, rtol=0, atol=0)
    # grid: one plot per cell with the title of ``studio compare``'s grid
    assert len(ws.grid.cells) == 4
    assert ws.grid.cells[1].titleLabel.text.startswith("NFE 8")
    # table: the cells plus the data-vs-data floor
    model = ws.table.source
    assert model.rowCount() == 5 and model.rows[-1]["status"] == "floor"
    assert {"rmse", "swd", "mmd", "nfe"} <= set(model.columns)
    # the error plot has a point per cell
    assert len(ws.plot.points) == 4
    assert "comparison finished: 4 cells" in win.log.text()


def test_click_hover_and_double_click_open_the_cell(win, qtbot):
    ws = win.compare
    setup_form(ws)
    run_compare(qtbot, ws)
    grid = ws.grid
    vp = grid.canvas.viewport()
    QTest.mouseClick(vp, Qt.LeftButton, Qt.NoModifier, grid.cell_center(3))
    assert ws.session.selected == 3
    key = ws.session.comparison.cells[3].key
    assert key in grid.info.text()
    # the table follows the selection
    row = ws.table.proxy.mapToSource(ws.table.currentIndex()).row()
    assert ws.table.source.cell_index[row] == 3
    # hovering another cell shows its values (pyqtgraph drops moves closer than ~20 ms apart)
    qtbot.wait(80)
    hover(vp, grid.cell_center(0))
    qtbot.waitUntil(lambda: ws.session.comparison.cells[0].key in grid.info.text(), timeout=3000)
    assert "rmse" in grid.info.text()
    # keyboard: left arrow moves the selection
    QTest.keyClick(grid, Qt.Key_Left)
    assert ws.session.selected == 2
    # double-click: the cell's own pipeline runs in the trajectory view
    with qtbot.waitSignal(win.runFinished, timeout=30000) as blocker:
        double_click(vp, grid.cell_center(1))
    assert blocker.args[0] == "finished"
    assert ws.opened_cell == 1
    cell = ws.session.comparison.cells[1]
    shown = win.state.results()[cell.solver.branch].samples
    torch.testing.assert_close(shown, ws.session.comparison.results[1].samples, rtol=0, atol=0)
    assert set(win.panel.views) == {cell.solver.branch}
    # the canvas was left alone
    assert win.doc.of_type("solver") == ["dpm-solver++-2m"]
    # clicking a point of the error plot selects its cell
    x, y, idx = ws.plot.points[0]
    scene = shown_at(qtbot, ws.plot.plot.vb, QPointF(x, y))
    QTest.mouseClick(ws.plot.canvas.viewport(), Qt.LeftButton, Qt.NoModifier,
                     ws.plot.canvas.mapFromScene(scene))
    assert ws.session.selected == idx


def test_cancel_keeps_finished_cells_and_the_app_usable(win, qtbot):
    ws = win.compare
    setup_form(ws, solvers=("euler",), nfes="2, 3000, 6000", batch=4000, metrics=("nfe",))
    with qtbot.waitSignal(ws.session.cellsAdded, timeout=30000):
        assert ws.run()
    assert not ws.run()                       # one comparison at a time
    with qtbot.waitSignal(ws.session.finished, timeout=30000) as blocker:
        ws.cancel_button.click()
    assert blocker.args[0] == "cancelled"
    comp = ws.session.comparison
    assert 1 <= len(comp.results) < 3 and not comp.finished
    assert "cancelled" in win.log.text()
    assert ws.run_button.isEnabled() and not ws.cancel_button.isEnabled()
    setup_form(ws, solvers=("euler",), nfes="3", batch=16, metrics=("nfe",))
    assert run_compare(qtbot, ws)[0] == "finished"
    # closing the window stops a running comparison
    setup_form(ws, solvers=("euler",), nfes="2, 3000", batch=4000, metrics=("nfe",))
    with qtbot.waitSignal(ws.session.cellsAdded, timeout=30000):
        assert ws.run()
    win.close()
    assert not ws.session.running and ws.session.status == "cancelled"


def test_errors_are_messages_and_skipped_cells_are_shown(win, qtbot):
    ws = win.compare
    setup_form(ws, nfes="5, x")
    assert not ws.run()
    assert "Cannot compare" in win.log.text() and "NFE budgets" in win.log.text()
    setup_form(ws, solvers=())
    ws.setup.extra_solvers.setText("ddim:bogus=1")
    assert not ws.run()
    assert "unknown parameter 'bogus'" in win.log.text()
    # a budget too small for Heun: that cell is skipped, the others run
    setup_form(ws, solvers=("heun",), nfes="1, 6")
    assert run_compare(qtbot, ws)[0] == "finished"
    comp = ws.session.comparison
    assert comp.results[0].status == "skipped" and comp.results[1].ok
    assert "skipped" in ws.grid.cells[0].titleLabel.text
    ws.session.select(0)
    assert not ws.open_cell_button.isEnabled()


def test_save_reopen_and_use_in_pipeline(win, qtbot, tmp_path):
    ws = win.compare
    setup_form(ws, schedules=("karras", "logsnr"), nfes="4")
    run_compare(qtbot, ws)
    before = ws.session.comparison
    path = str(tmp_path / "c.json")
    assert ws.save_path(path)
    # "Everything to a folder": the files of `studio compare --out`, by the same function
    files = ws.session.export_folder(str(tmp_path / "all"))
    assert sorted(os.path.basename(f) for f in files) == sorted(
        ["table.csv", "table.json", "comparison.json", "samples.npz", "grid.png", "error_vs_nfe.png"])
    ws.session.select(-1)
    assert ws.open_path(path)
    after = ws.session.comparison
    assert ws.session.status == "loaded" and len(after.results) == len(before.results) == 4
    for i, r in before.results.items():
        torch.testing.assert_close(after.results[i].samples, r.samples, rtol=0, atol=0)
    assert len(ws.grid.cells) == 4 and ws.table.source.rowCount() == 5
    assert ws.setup.nfes.text() == "4"
    # the chosen cell's solver goes into the pipeline, undoably
    idx = after.spec.row_labels().index("euler / logsnr")
    nid = ws.use_cell_solver(idx)
    node = win.doc.nodes[nid]
    assert node.kind == "euler" and node.params["nfe"] == 4 and node.params["schedule"] == "logsnr"
    win.doc.undo_stack.undo()
    assert win.doc.nodes[nid].kind == "dpm-solver++-2m"
    # a broken file is a message, and the comparison on screen stays
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "studio.compare/1"}')
    assert not ws.open_path(str(bad))
    assert ws.session.comparison is after and "Cannot open comparison" in win.log.text()


def _pixels(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"))


def _csv_without_timing(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    for r in rows:
        r.pop("ms-per-sample", None)
    return rows


def test_figures_and_tables_equal_studio_compare(win, qtbot, tmp_path):
    from studio.cli.main import main

    out = tmp_path / "cli"
    # the form lists schedules in the registry's order (logsnr before karras): rows come in that order
    assert main(["compare", EXAMPLE, "--solvers", "euler", "--nfe", "4,8", "--schedules",
                 "logsnr,karras", "--batch", "40", "--seed", "3", "--n-data", "512",
                 "--metrics", "rmse,swd,mmd,nfe,ms-per-sample", "--out", str(out),
                 "--quiet"]) == 0
    assert win.open_path(EXAMPLE)
    ws = win.compare
    setup_form(ws, solvers=("euler",), batch=40, schedules=("karras", "logsnr"))
    run_compare(qtbot, ws)
    import pyqtgraph as pg
    pg.setConfigOptions(background="k", foreground="d")   # the CLI (run here) left them white
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for what, name in (("grid", "grid.png"), ("plot", "error_vs_nfe.png"), ("csv", "table.csv"),
                       ("json", "table.json")):
        assert ws.export_path(what, str(app_dir / name))
    for name in ("grid.png", "error_vs_nfe.png"):
        a, b = _pixels(app_dir / name), _pixels(out / name)
        assert a.shape == b.shape and np.array_equal(a, b), name
    assert _csv_without_timing((app_dir / "table.csv").read_text()) == \
        _csv_without_timing((out / "table.csv").read_text())
    # the app's views keep their colours after rendering the white figures
    assert (pg.getConfigOption("background"), pg.getConfigOption("foreground")) == ("k", "d")
    # the CLI's comparison file opens in the workspace with the same cells
    mine = ws.session.comparison
    assert ws.open_path(str(out / "comparison.json"))
    theirs = ws.session.comparison
    assert theirs is not mine and sorted(theirs.results) == sorted(mine.results)
    for i, r in theirs.results.items():
        torch.testing.assert_close(r.samples, mine.results[i].samples, rtol=0, atol=0)

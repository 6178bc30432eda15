"""Full-page workspaces: the mode bar, one-line registration, per-workspace docks, the result view
after Run, and the whole window at 1280x800 in every workspace (PNGs, nothing clipped)."""
from __future__ import annotations

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel

from .conftest import set_small, wait_run


def test_every_workspace_is_a_page_in_order(win):
    assert "failed to load" not in win.log.text()       # every workspace installed
    order = [n for n in win.workspaces.order if n != "edit"]     # Edit: another branch's page
    assert order == ["pipeline", "compare", "diagnostics", "inverse", "training", "gallery",
                     "queue"]
    bar = win.workspaces.bar
    assert [bar.tabText(i) for i in range(bar.count()) if bar.tabText(i) != "Edit"] == [
        "Pipeline", "Comparison", "Diagnostics", "Inverse problems", "Training", "Gallery",
        "Queue"]
    # the old dock-style names still reach the pages (extensions written for docks keep working)
    assert win.docks["compare"].widget() is win.compare
    assert "trajectories" not in win.docks
    win.docks["training"].raise_()
    assert win.workspaces.current == "training" and win.docks["training"].isVisible()
    assert not win.docks["compare"].isVisible()
    # the run settings belong to the pipeline page
    assert not win.toolbar.isVisible()
    bar.setCurrentIndex(0)
    assert win.workspaces.current == "pipeline" and win.toolbar.isVisible()


def test_workspaces_are_built_when_first_shown_or_read(win):
    from studio.app.mainwindow import MainWindow
    spaces = win.workspaces
    lazy = ("compare", "diagnostics", "inverse", "training", "edit")
    # nothing of them built while the window started (their plots and forms cost tenths of a s)
    assert [n for n in lazy if spaces[n].built] == []
    assert MainWindow.compare.pending(win) and MainWindow.edit_digits.pending(win)
    built = []
    spaces.built.connect(built.append)
    win.docks["inverse"].raise_()                      # showing a page builds it
    assert spaces["inverse"].built and built == ["inverse"]
    assert spaces.stack.currentWidget().widget() is win.inverse_panel
    panel = win.training_panel                         # reading the attribute builds the page
    assert spaces["training"].built and spaces["training"].widget() is panel
    assert spaces.current == "inverse"                 # ...without showing it
    assert win.edit_digits is not None and spaces["edit"].built and built[-1] == "edit"
    assert win.training_panel is panel and built.count("training") == 1


def test_a_workspace_that_fails_to_build_says_why(win):
    def broken():
        raise ValueError("no such widget")
    page = win.add_workspace("broken", "Broken", broken)
    page.show()
    shown = win.workspaces.stack.currentWidget().widget()
    assert isinstance(shown, QLabel) and "no such widget" in shown.text()
    assert "failed to load" in win.log.text() and page.failed == "ValueError: no such widget"
    assert page.later().make() is None                 # what the window's attribute then reads


def test_adding_a_workspace_is_one_line(win):
    page = win.add_workspace("sketch", "Sketch", QLabel("sketch page"), docks=("log",))
    # a name without a place in ORDER goes before the Gallery
    assert win.workspaces.order.index("sketch") == win.workspaces.order.index("gallery") - 1
    page.show()
    assert win.workspaces.stack.currentWidget().widget().text() == "sketch page"
    assert win.docks["log"].isVisible() and not win.docks["inspector"].isVisible()


def test_docks_are_remembered_per_workspace(win, qtbot, settings):
    assert win.docks["inspector"].isVisible()
    win.workspaces.show("compare")
    assert not win.docks["inspector"].isVisible() and not win.docks["log"].isVisible()
    win.docks["log"].show()                 # the user opens the log while comparing
    win.workspaces.show("pipeline")
    win.docks["log"].hide()
    win.workspaces.show("compare")
    assert win.docks["log"].isVisible()
    win.workspaces.show("pipeline")
    assert not win.docks["log"].isVisible() and win.docks["inspector"].isVisible()
    win.close()
    from studio.app.mainwindow import MainWindow
    w2 = MainWindow(settings)
    w2.ask_to_save = w2.show_dialogs = False
    qtbot.addWidget(w2)
    w2.show()
    qtbot.waitExposed(w2)
    assert w2.workspaces.current == "pipeline" and not w2.docks["log"].isVisible()
    w2.workspaces.show("compare")
    assert w2.docks["log"].isVisible()
    w2.reset_layout()
    assert not w2.docks["log"].isVisible()
    w2.close()


def test_run_brings_the_trajectories_forward(win, qtbot):
    set_small(win, 200, steps=4)
    win.pipeline_split.setSizes([700, 0])       # the user had collapsed the view
    win.workspaces.show("gallery")
    assert win.run()
    assert win.workspaces.current == "pipeline"
    assert win.pipeline_split.sizes()[1] >= 120
    assert win.progress.job.full_text().startswith("▶ Sampling")
    status, _ = wait_run(qtbot, win)
    assert status == "finished"
    assert "done" in win.progress.job.full_text()
    # cut texts can be read whole: branch readouts and node subtitles have tooltips
    from studio.app.specs import kind_title
    for branch, view in win.panel.views.items():
        assert view.title in view.header.toolTip() and "NFE" in view.header.toolTip()
    assert win.scene.nodes
    for nid, item in win.scene.nodes.items():
        assert kind_title(item.ntype, item.kind) in item.toolTip()


def test_every_workspace_at_1280x800(win, qtbot, tmp_path):
    from studio.app.shots import SIZE, clipped, grab_workspaces
    paths = grab_workspaces(win, str(tmp_path), settle=0.05)
    assert set(paths) == set(win.workspaces.order)
    for name, path in paths.items():
        img = QImage(path)
        assert (img.width(), img.height()) == SIZE, name     # no page forces the window larger
        win.workspaces.show(name)
        qtbot.wait(10)
        assert clipped(win) == [], name

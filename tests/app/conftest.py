"""Fixtures for the app tests: a main window with its own settings file, shown offscreen."""
from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402


@pytest.fixture(autouse=True)
def _collect_on_gui_thread():
    """Whatever a test leaves behind (windows, menus) is collected here, on the GUI thread, never
    by a later test's worker thread (see studio/app/gcguard.py)."""
    import gc
    yield
    gc.collect()


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "studio.ini"), QSettings.IniFormat)


@pytest.fixture
def win(qtbot, settings):
    from studio.app import gcguard
    from studio.app.main import make_app
    from studio.app.mainwindow import MainWindow
    gcguard.install(make_app())
    w = MainWindow(settings)
    w.ask_to_save = False
    w.show_dialogs = False
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.view.fit()
    yield w
    w.controller.shutdown()
    w.preview.wait()
    # Collect this window's garbage here, on the GUI thread, before another test's threads run.
    gcguard.uninstall()


def view_pos(view, scene_pos: QPointF) -> QPoint:
    return view.mapFromScene(scene_pos)


def drag(view, a: QPointF, b: QPointF, steps: int = 6) -> None:
    """Press at scene point a, move to b with the button held, release (real mouse events)."""
    vp = view.viewport()
    pa, pb = view_pos(view, a), view_pos(view, b)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, pa)
    for i in range(1, steps + 1):
        p = pa + (pb - pa) * (i / steps)
        QTest.mouseMove(vp, p)
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, pb)


def shown_at(qtbot, vb, view_pt: QPointF, timeout: int = 5000) -> QPointF:
    """The scene position of a data point of a pyqtgraph ViewBox, once the box shows it (pyqtgraph
    fits the axes to new data lazily, so a click right after plotting could miss the point)."""
    qtbot.waitUntil(lambda: vb.sceneBoundingRect().contains(vb.mapViewToScene(view_pt)),
                    timeout=timeout)
    return vb.mapViewToScene(view_pt)


def click(view, scene_pos: QPointF, modifier=Qt.NoModifier) -> None:
    QTest.mouseClick(view.viewport(), Qt.LeftButton, modifier, view_pos(view, scene_pos))


def set_small(win, batch: int = 300, steps: int | None = None) -> None:
    win.toolbar.batch.setValue(batch)
    if steps is not None:
        for nid in win.doc.of_type("solver"):
            win.doc.set_param(nid, "steps", steps)


def wait_run(qtbot, win, timeout: int = 30000) -> tuple[str, str]:
    with qtbot.waitSignal(win.runFinished, timeout=timeout) as blocker:
        pass
    return tuple(blocker.args)

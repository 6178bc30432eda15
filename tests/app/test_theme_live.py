"""Switching the theme restyles the app's own drawings live: node canvas, plots, log."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from studio.app.colors import DARK, LIGHT
from studio.app.comfort.theme import apply_theme
from studio.app.views.branch import PointsView


def _canvas_colour(win) -> QColor:
    img = win.view.viewport().grab().toImage()
    return QColor(img.pixel(img.width() // 2 + 7, 3))     # off the grid lines, above the nodes


def _plots(win):
    return [w for w in win.findChildren(pg.GraphicsView) if isinstance(w, pg.GraphicsView)]


def test_switching_the_theme_changes_canvas_plot_and_log_colours(win, qtbot):
    qtbot.waitUntil(lambda: bool(win.panel.views), timeout=20000)    # the density preview
    win.workspaces.show("diagnostics")      # its plots are made on first show
    win.workspaces.show("pipeline")
    win.log.info("a message before the switch")
    try:
        assert _canvas_colour(win).lightness() < 60
        assert all(w.backgroundBrush().color().name() == DARK.plot for w in _plots(win)
                   if w.window() is win)
        assert DARK.log["info"] in win.log_view.document().toHtml()

        apply_theme("light")
        qtbot.wait(10)
        assert _canvas_colour(win).lightness() > 200
        plots = [w for w in _plots(win) if w.window() is win]
        assert len(plots) >= 5            # pipeline, comparison, diagnostics, inverse, training
        assert {w.backgroundBrush().color().name() for w in plots} == {LIGHT.plot}
        html = win.log_view.document().toHtml()
        assert LIGHT.log["info"] in html and DARK.log["info"] not in html
        assert "a message before the switch" in html
        # the live view draws its particles and density in the light theme's colours
        view = next(v for v in win.panel.views.values() if isinstance(v, PointsView))
        assert view.particles._color == QColor(*LIGHT.particles)
        # a plot made after the switch is light from the start
        win.workspaces.show("diagnostics")
        for tab in range(win.diagnostics.tabs.count()):
            win.diagnostics.tabs.setCurrentIndex(tab)
        assert {w.backgroundBrush().color().name() for w in _plots(win)
                if w.window() is win} == {LIGHT.plot}
    finally:
        apply_theme("dark")
    assert _canvas_colour(win).lightness() < 60
    assert DARK.log["info"] in win.log_view.document().toHtml()
    assert view.particles._color == QColor(*DARK.particles)

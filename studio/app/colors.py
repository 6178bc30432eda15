"""The colours of the app's own drawings (node canvas, plots, log), per theme.

The widgets read them from :func:`current` when they are made, and
:func:`studio.app.comfort.theme.apply_theme` restyles the existing ones live: every pyqtgraph view
(background, axes, titles) and every widget of a :class:`Themed` class (its
:meth:`Themed.apply_colors` hook).
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Colors:
    name: str
    canvas: str          # node canvas background
    canvas_grid: str     # its grid lines
    plot: str            # plot background
    axis: str            # plot axes, ticks and titles
    text: str            # text drawn on plots and in the log
    muted: str           # secondary text (time stamps, hints)
    log: dict            # log level -> colour
    particles: tuple     # RGBA of the particles of the live views
    x0: tuple            # RGBA of the x0-predictions
    trails: tuple        # RGBA of the trails
    density: tuple       # colour stops (low .. high) of the data density behind the particles


DARK = Colors(
    "dark", canvas="#1b1e23", canvas_grid="#2c3037", plot="#101418", axis="#9aa4ae",
    text="#c8d0d8", muted="#8a949e",
    log={"info": "#c8d0d8", "warning": "#e8b04a", "error": "#e0564a", "ok": "#6cd27a"},
    particles=(255, 196, 64, 210), x0=(240, 90, 200, 150), trails=(255, 255, 255, 45),
    density=((16, 20, 24), (28, 58, 96), (44, 128, 150), (170, 235, 210)))

LIGHT = Colors(
    "light", canvas="#eef0f3", canvas_grid="#d9dde3", plot="#fbfcfd", axis="#4a525b",
    text="#1e2228", muted="#6b737c",
    log={"info": "#1e2228", "warning": "#9a6200", "error": "#c0281c", "ok": "#1d7a32"},
    particles=(214, 110, 0, 200), x0=(170, 40, 150, 150), trails=(20, 30, 40, 50),
    density=((251, 252, 253), (196, 221, 240), (104, 170, 205), (28, 100, 140)))

THEMES = {"dark": DARK, "light": LIGHT}


def current() -> Colors:
    """The colours of the theme the application shows now (dark unless the light one is on)."""
    app = QApplication.instance()
    return LIGHT if app is not None and app.property("studioTheme") == "light" else DARK


class Themed:
    """A widget that draws with theme colours of its own: :meth:`apply_colors` is called with
    the new colours when the theme changes (and should be called by its constructor)."""

    def apply_colors(self, c: Colors) -> None:
        raise NotImplementedError


def restyle(c: Colors | None = None) -> int:
    """Restyle every widget of the application to ``c`` (default: the current theme): pyqtgraph
    views (background, axes, plot titles) and :class:`Themed` widgets. Returns how many."""
    app = QApplication.instance()
    if app is None:
        return 0
    c = c or current()
    import pyqtgraph as pg
    n = 0
    for w in app.allWidgets():
        if isinstance(w, pg.GraphicsView):
            style_plot_widget(w, c)
            n += 1
        if isinstance(w, Themed):
            w.apply_colors(c)
            n += 1
    return n


def style_plot_widget(view, c: Colors) -> None:
    """A pyqtgraph view in colours ``c``: its background, the axes and titles of its scene."""
    import pyqtgraph as pg
    view.setBackground(c.plot)
    scene = view.scene()
    if scene is None:
        return
    for item in scene.items():
        if isinstance(item, pg.AxisItem):
            item.setPen(c.axis)
            item.setTextPen(c.axis)
        elif isinstance(item, pg.LabelItem) and item.text:
            # the theme's own text colours change; a label in a colour of its own (an error in
            # red, the selection in yellow) keeps it
            old = str(item.opts.get("color") or "").lower()
            new = _TEXT_ROLES.get(old, {}).get(c.name)
            if new is not None or not old:
                item.setText(item.text, color=new or c.text)


#: text colour of a theme -> the same role's colour in each theme
_TEXT_ROLES = {getattr(t, role).lower(): {n: getattr(u, role) for n, u in THEMES.items()}
               for t in THEMES.values() for role in ("text", "muted", "axis")}

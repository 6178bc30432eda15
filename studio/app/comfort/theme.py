"""Light and dark themes, switched live.

The dark theme is the app's own (:func:`studio.app.style.apply_style`). The light theme is a light
Fusion palette. The app's own drawings follow, live: the node canvas, every plot (background,
axes, titles; the live views' density and particles too) and the log take their colours from
:mod:`studio.app.colors`, and switching restyles the existing ones
(:func:`studio.app.colors.restyle`).
"""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("dark", "light")
_MARK = "/* studio-theme */"

#: style sheet rules of the light theme (none: its palette says it all, and an application style
#: sheet would change the size of every widget); kept between marks so that switching removes them
LIGHT_SHEET = ""


def light_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(236, 239, 243), QColor(255, 255, 255), QColor(30, 34, 40)
    p.setColor(QPalette.Window, window)
    p.setColor(QPalette.WindowText, text)
    p.setColor(QPalette.Base, base)
    p.setColor(QPalette.AlternateBase, QColor(245, 246, 248))
    p.setColor(QPalette.ToolTipBase, QColor(255, 255, 240))
    p.setColor(QPalette.ToolTipText, text)
    p.setColor(QPalette.Text, text)
    p.setColor(QPalette.Button, QColor(226, 230, 235))
    p.setColor(QPalette.ButtonText, text)
    p.setColor(QPalette.BrightText, QColor(200, 40, 30))
    p.setColor(QPalette.Highlight, QColor(61, 124, 201))
    p.setColor(QPalette.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.Link, QColor(31, 105, 200))
    p.setColor(QPalette.PlaceholderText, QColor(128, 135, 143))
    p.setColor(QPalette.Mid, QColor(190, 195, 201))
    p.setColor(QPalette.Dark, QColor(160, 166, 173))
    p.setColor(QPalette.Light, QColor(255, 255, 255))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        p.setColor(QPalette.Disabled, role, QColor(150, 156, 162))
    return p


def current_theme(app: QApplication | None = None) -> str:
    app = app or QApplication.instance()
    return "light" if app is not None and app.property("studioTheme") == "light" else "dark"


def apply_theme(name: str, app: QApplication | None = None) -> str:
    """Switch the whole application to ``name`` ("dark" or "light"); returns the theme applied."""
    from ..style import apply_style
    app = app or QApplication.instance()
    name = name if name in THEMES else "dark"
    if app is None:
        return name
    if app.property("studioTheme") == name and (name == "light" or app.property("studioStyled")):
        return name                # already so: no palette change for every widget
    app.setProperty("studioTheme", name)     # first: the widgets read it when they restyle
    sheet = _strip(app.styleSheet())
    if name == "light":
        app.setStyle("Fusion")
        app.setPalette(light_palette())
        if LIGHT_SHEET:
            sheet = (sheet + "\n" + _MARK + LIGHT_SHEET + _MARK).strip()
    else:
        app.setProperty("studioStyled", False)
        apply_style(app)
    if sheet != app.styleSheet():
        app.setStyleSheet(sheet)
    from ..colors import restyle
    restyle()
    return name


def _strip(sheet: str) -> str:
    """The style sheet without this module's part."""
    start = sheet.find(_MARK)
    if start < 0:
        return sheet
    end = sheet.find(_MARK, start + len(_MARK))
    end = len(sheet) if end < 0 else end + len(_MARK)
    return (sheet[:start] + sheet[end:]).strip()

"""A dark Fusion palette: the density and particle colours of the views read best on dark."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette


def apply_style(app) -> None:
    if app.property("studioStyled"):
        return
    app.setProperty("studioStyled", True)
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor(30, 33, 38), QColor(40, 44, 50), QColor(214, 220, 226)
    p.setColor(QPalette.Window, window)
    p.setColor(QPalette.WindowText, text)
    p.setColor(QPalette.Base, base)
    p.setColor(QPalette.AlternateBase, window)
    p.setColor(QPalette.ToolTipBase, QColor(52, 57, 64))
    p.setColor(QPalette.ToolTipText, text)
    p.setColor(QPalette.Text, text)
    p.setColor(QPalette.Button, QColor(50, 55, 62))
    p.setColor(QPalette.ButtonText, text)
    p.setColor(QPalette.BrightText, QColor(255, 90, 80))
    p.setColor(QPalette.Highlight, QColor(64, 120, 190))
    p.setColor(QPalette.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.Link, QColor(110, 170, 240))
    p.setColor(QPalette.PlaceholderText, QColor(125, 133, 141))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        p.setColor(QPalette.Disabled, role, QColor(110, 116, 122))
    app.setPalette(p)

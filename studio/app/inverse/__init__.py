"""The inverse-problem workspace: a panel that poses y = A x + sigma_y n on an image or a point,
runs the engine's posterior-sampling methods side by side and shows how well each fits y.

Installed into the main window by :mod:`studio.app.extensions.inverse`.
"""
from __future__ import annotations

__all__ = ["InversePanel"]


def __getattr__(name):
    if name == "InversePanel":
        from .panel import InversePanel
        return InversePanel
    raise AttributeError(name)

"""The desktop application (PySide6): main window, node editor, live trajectory views.

Entry point: :func:`studio.app.main.run_app` (``studio`` / ``studio gui``).
"""
from .compat import protect_singletons as _protect

_protect()

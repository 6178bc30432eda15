"""The desktop application (PySide6): main window, node editor, live trajectory views.

Entry point: :func:`studio.app.main.run_app` (``studio`` / ``studio gui``).

The engine (torch and the studio's registries) is imported here, before PySide6: PySide6 installs
an import hook that reads the source of every module imported after it (its ``__feature__``
check), about 0.3 s of CPU at start-up for torch's thousand modules, which the application
imports anyway.
"""
import importlib as _importlib

for _name in ("torch", "studio.core.pipeline", "studio.core.compare"):
    _importlib.import_module(_name)

from .compat import protect_singletons as _protect  # noqa: E402 - after the engine, on purpose

_protect()

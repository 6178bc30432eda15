"""The desktop application (PySide6): main window, node editor, live trajectory views.

Entry point: :func:`studio.app.main.run_app` (``studio`` / ``studio gui``).

The engine (torch and the studio's registries) is imported here, before PySide6: PySide6 installs
an import hook that reads the source of every module imported after it (its ``__feature__``
check), about 0.3 s of CPU at start-up for torch's thousand modules, which the application
imports anyway.
"""
import torch  # noqa: F401 - imported first, on purpose (see above)

from ..core import compare as _compare, pipeline as _pipeline  # noqa: F401
from .compat import protect_singletons as _protect  # after the engine, on purpose

_protect()

"""Sub-commands of ``studio``: one module each, discovered at start.

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(0 success, 2 bad input, 1 otherwise). Raise :class:`studio.core.errors.StudioError` for bad input;
``studio`` prints it as one line and exits 2.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"{__name__}.{info.name}"))
    return mods

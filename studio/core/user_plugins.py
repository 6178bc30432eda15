"""Plugins from outside the package: a user plugin folder and the entry-point group
``diffusion_studio.plugins``.

Every ``*.py`` file in the plugin folder, and every entry point of the group, is imported once, the
first time any registry is used (so ``studio solvers``, the app's palette and the comparison
workspace all see what they register). A plugin registers classes exactly like the built-ins::

    from studio.core.registry import SOLVERS
    @SOLVERS.register("my-solver")
    @dataclass
    class MySolver(Solver): ...

An entry point may name a module (imported) or a callable (imported, then called with no
arguments). A plugin that fails to import is recorded with its error and skipped: the app and the
CLI still start. ``studio plugins`` lists what was loaded, from where, and what it registered.

The folder: ``STUDIO_PLUGIN_DIR`` if set, else ``<data folder>/plugins`` where the data folder is
``STUDIO_DATA_DIR`` or ``platformdirs.user_data_dir("diffusion-studio")`` (the app's data folder;
see ``studio.app.comfort.paths``). ``STUDIO_NO_PLUGINS=1`` turns external plugins off.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ENTRY_POINT_GROUP = "diffusion_studio.plugins"
MODULE_PREFIX = "studio_user_plugins"


@dataclass
class PluginRecord:
    """One plugin source: a file or an entry point."""

    name: str
    source: str           # "file" or "entry point"
    location: str         # the file's path, or "module:attr (distribution)"
    ok: bool
    registered: list[str] = field(default_factory=list)   # "solver:my-solver", ...
    error: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "source": self.source, "location": self.location,
                "status": "loaded" if self.ok else "failed", "registered": self.registered,
                "error": self.error}


_records: list[PluginRecord] = []
_loaded = False


def plugin_dir() -> Path:
    env = os.environ.get("STUDIO_PLUGIN_DIR")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("STUDIO_DATA_DIR")
    if data:
        return Path(data).expanduser() / "plugins"
    import platformdirs
    return Path(platformdirs.user_data_dir("diffusion-studio", appauthor=False)) / "plugins"


def _snapshot() -> dict[str, set]:
    from .registry import ALL_REGISTRIES
    return {r.kind: set(r._classes) for r in ALL_REGISTRIES}


def _added(before: dict[str, set]) -> list[str]:
    after = _snapshot()
    return [f"{kind}:{i}" for kind in after for i in sorted(after[kind] - before.get(kind, set()))]


def _error_text(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}, line {tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def import_file(path: str | Path) -> PluginRecord:
    """Import one plugin file as a fresh module; never raises (failures are in the record)."""
    path = Path(path)
    name = f"{MODULE_PREFIX}.{path.stem.replace('-', '_')}"
    before = _snapshot()
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:   # a broken plugin never stops the studio
        sys.modules.pop(name, None)
        return PluginRecord(path.stem, "file", str(path), False, _added(before), _error_text(exc))
    return PluginRecord(path.stem, "file", str(path), True, _added(before))


def _entry_points():
    from importlib.metadata import entry_points
    return list(entry_points(group=ENTRY_POINT_GROUP))


def import_entry_point(ep) -> PluginRecord:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    where = ep.value + (f" ({dist})" if dist else "")
    before = _snapshot()
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, type(sys)):
            obj()
    except (Exception, SystemExit) as exc:
        return PluginRecord(ep.name, "entry point", where, False, _added(before), _error_text(exc))
    return PluginRecord(ep.name, "entry point", where, True, _added(before))


def load_external(force: bool = False, directory: str | Path | None = None) -> list[PluginRecord]:
    """Import the plugin folder's files and the entry points (once per process unless ``force``)."""
    global _loaded
    if _loaded and not force:
        return list(_records)
    _loaded = True
    if os.environ.get("STUDIO_NO_PLUGINS") == "1":
        return []
    folder = Path(directory) if directory is not None else plugin_dir()
    new: list[PluginRecord] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                new.append(import_file(path))
    try:
        eps = _entry_points()
    except Exception as exc:   # broken metadata must not stop the studio either
        new.append(PluginRecord("entry points", "entry point", ENTRY_POINT_GROUP, False,
                                error=_error_text(exc)))
        eps = []
    for ep in eps:
        new.append(import_entry_point(ep))
    _records.extend(new)
    return new


def records() -> list[PluginRecord]:
    """What was loaded so far (loads the registries, and so the plugins, first)."""
    from .registry import ALL_REGISTRIES
    for r in ALL_REGISTRIES:
        r._load()
    return list(_records)


__all__ = ["PluginRecord", "plugin_dir", "load_external", "import_file", "records",
           "ENTRY_POINT_GROUP"]

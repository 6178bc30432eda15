"""The engine never imports Qt or the app: checked in a fresh interpreter."""
from __future__ import annotations

import pathlib
import subprocess
import sys


def test_core_and_cli_do_not_import_qt():
    code = (
        "import sys, importlib, pkgutil, studio.core\n"
        "for m in pkgutil.walk_packages(studio.core.__path__, 'studio.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "importlib.import_module('studio.cli.main')._parser()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')"
        " or m.startswith('studio.app')]\n"
        "print(bad); sys.exit(1 if bad else 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_core_sources_have_no_qt_imports():
    root = pathlib.Path(__file__).resolve().parents[2] / "studio" / "core"
    for path in root.rglob("*.py"):
        text = path.read_text()
        for bad in ("PySide6", "pyqtgraph", "studio.app", "from ...app", "import scipy"):
            assert bad not in text, f"{path} mentions {bad}"


def test_app_does_not_import_the_cli():
    """Dependencies point down: the app and the renderers call the engine, never the CLI."""
    root = pathlib.Path(__file__).resolve().parents[2] / "studio"
    for sub in ("app", "render", "core"):
        for path in (root / sub).rglob("*.py"):
            text = path.read_text()
            for bad in ("studio.cli", "from ..cli", "from ...cli", "from ....cli"):
                assert bad not in text, f"{path} imports the CLI ({bad})"

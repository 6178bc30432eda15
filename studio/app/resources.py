"""Where the app's files are: icons, example pipelines, bundled models — the same from a source
checkout, an editable or a wheel install, and a PyInstaller bundle.

* Package data (``studio/assets/...``) sits next to the code in every layout; in a PyInstaller
  bundle the spec copies it to ``<bundle>/_internal/studio/assets`` so ``__file__`` paths work.
* Example pipelines: ``studio/examples`` (package data) if present, else ``examples/`` in the
  bundle (``sys._MEIPASS``) or in the source checkout above the package.
"""
from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]          # .../studio
ICONS = PACKAGE / "assets" / "icons"
ICON_NAME = "diffusion-studio"


def bundle_root() -> Path | None:
    """The PyInstaller bundle's data folder, or None when not frozen."""
    root = getattr(sys, "_MEIPASS", None)
    return Path(root) if root else None


def example_candidates() -> list[Path]:
    """Where example pipelines are looked for, in order."""
    candidates = [PACKAGE / "examples"]
    if bundle_root() is not None:
        candidates.append(bundle_root() / "examples")
    candidates.append(PACKAGE.parent / "examples")      # a source checkout / editable install
    return candidates


def examples_dir() -> Path | None:
    """The folder of example pipelines (``*.json``), or None if none is installed."""
    for c in example_candidates():
        if c.is_dir() and any(c.glob("*.json")):
            return c
    return None


def example_files() -> list[Path]:
    d = examples_dir()
    return sorted(d.glob("*.json")) if d is not None else []


def icon_files() -> list[Path]:
    """The raster icons, smallest first, then the SVG."""
    pngs = sorted(ICONS.glob(f"{ICON_NAME}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    svg = ICONS / f"{ICON_NAME}.svg"
    return pngs + ([svg] if svg.is_file() else [])


def app_icon():
    """The application icon as a QIcon (every size), or an empty QIcon if the files are missing."""
    from PySide6.QtGui import QIcon
    icon = QIcon()
    for f in icon_files():
        if f.suffix == ".png":
            icon.addFile(str(f))
    return icon


def is_shipped(path: str | Path | None) -> bool:
    """Whether ``path`` is a file that ships with the app (an example pipeline, package data, the
    bundle): such files are never written (Save acts as Save As into the user's folder)."""
    if not path:
        return False
    try:
        p = Path(path).resolve()
    except OSError:
        return False
    roots = [PACKAGE] + [c.resolve() for c in example_candidates() if c.is_dir()]
    if bundle_root() is not None:
        roots.append(bundle_root().resolve())
    return any(p == r or r in p.parents for r in roots)

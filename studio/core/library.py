"""Where models live: bundled models, the user's model library, extra folders.

* Bundled models ship inside the package, in ``studio/assets/models/`` (package data), so they
  resolve the same from a source checkout, an editable install and a wheel. A pipeline names
  them ``assets:NAME.safetensors``.
* The user's library is ``platformdirs.user_data_dir("diffusion-studio")/models`` (override with
  the environment variable ``STUDIO_MODELS_DIR``); finished trainings land there.
* Extra folders: ``STUDIO_MODEL_PATH`` (os.pathsep-separated) and any passed by the caller.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ParamError, StudioError

ASSETS_PREFIX = "assets:"


def bundled_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "models"


def user_dir(create: bool = False) -> Path:
    env = os.environ.get("STUDIO_MODELS_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs
        path = Path(platformdirs.user_data_dir("diffusion-studio", appauthor=False)) / "models"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def new_model_path(name: str, folder: Path | None = None) -> Path:
    """A free ``.safetensors`` path for a model called ``name`` in ``folder`` (default: the
    user's library, created if needed): the name slugified, then -2, -3, ... if taken."""
    import re
    folder = Path(folder) if folder is not None else user_dir(create=True)
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.").lower()[:80] or "model"
    path = folder / f"{slug}.safetensors"
    k = 2
    while path.exists():
        path = folder / f"{slug}-{k}.safetensors"
        k += 1
    return path


def extra_dirs() -> list[Path]:
    env = os.environ.get("STUDIO_MODEL_PATH", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def resolve_model_path(path: str, base_dir: str | None = None, where: str = "path") -> str:
    """``assets:NAME`` -> the bundled file; a relative path -> relative to ``base_dir``."""
    if not isinstance(path, str) or not path:
        raise ParamError("expected a model file path", where)
    if path.startswith(ASSETS_PREFIX):
        name = path[len(ASSETS_PREFIX):]
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ParamError(f"{path!r}: give a bundled model's file name, e.g. "
                             "assets:digits.safetensors", where)
        found = bundled_dir() / name
        if not found.is_file():
            have = ", ".join(sorted(p.name for p in bundled_dir().glob("*.safetensors"))) or "none"
            raise ParamError(f"no bundled model {name!r}; bundled: {have}", where)
        return str(found)
    path = os.path.expanduser(path)
    if not os.path.isabs(path) and base_dir:
        path = os.path.join(base_dir, path)
    return path


@dataclass
class Entry:
    """One model file found in a library folder: its info, or why it cannot be used."""

    path: str
    source: str               # "bundled" | "user" | "extra"
    info: object | None = None  # studio.core.modelfile.ModelInfo
    error: str | None = None

    @property
    def reference(self) -> str:
        """How a pipeline names it (``assets:NAME`` for bundled models, else the path)."""
        if self.source == "bundled":
            return ASSETS_PREFIX + os.path.basename(self.path)
        return self.path

    def card(self) -> dict:
        out = {"path": self.path, "reference": self.reference, "source": self.source}
        if self.info is not None:
            out.update(self.info.card())
            out["path"] = self.path
        else:
            out["error"] = self.error
        return out


def list_models(extra: list[str] | None = None, verify_checksum: bool = False) -> list[Entry]:
    """Every ``*.safetensors`` in the bundled, user and extra folders, sorted by source and name.

    Every file is listed: one that cannot be used carries the reason (one bad file never hides
    the rest; a FIFO or device is reported without being opened). Temporary ``.tmp-*`` files are
    never listed, and those a killed writer left behind are removed."""
    from .atomic import TMP_PREFIX, clean_stray_temporaries
    from .modelfile import read_info

    folders: list[tuple[Path, str]] = [(bundled_dir(), "bundled"), (user_dir(), "user")]
    folders += [(p, "extra") for p in extra_dirs()] + [(Path(p), "extra") for p in (extra or [])]
    seen: set[str] = set()
    out = []
    for folder, source in folders:
        try:
            if not folder.is_dir():
                continue
            if source != "bundled":
                clean_stray_temporaries(folder)
            files = sorted(f for f in folder.glob("*.safetensors")
                           if not f.name.startswith(TMP_PREFIX))
        except OSError:
            continue
        for f in files:
            try:
                key = str(f.resolve())
            except (OSError, RuntimeError):
                key = str(f)
            if key in seen:
                continue
            seen.add(key)
            try:
                out.append(Entry(str(f), source, read_info(str(f), verify_checksum=verify_checksum)))
            except StudioError as exc:
                out.append(Entry(str(f), source, error=exc.problem))
            except Exception as exc:  # never let one file hide the library
                out.append(Entry(str(f), source, error=f"cannot read ({type(exc).__name__}: "
                                 f"{str(exc)[:200]})"))
    return out

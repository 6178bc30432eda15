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


def _library_files(extra: list[str] | None) -> list[tuple[Path, str]]:
    """(file, source) of every ``*.safetensors`` in the bundled, user and extra folders, in
    listing order, each file once; clears the temporaries a killed writer left behind."""
    from .atomic import TMP_PREFIX, clean_stray_temporaries

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
            if key not in seen:
                seen.add(key)
                out.append((f, source))
    return out


def file_identity(path: Path | str) -> str | None:
    """A string that changes whenever the file at ``path`` is replaced or written: its path,
    device, inode, size and modification and change times (None if it cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{path}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"


#: checked files of this process: (identity, verify_checksum) -> (info, error); the model
#: browser and the comparison's model rows list the same library at start-up
_CHECKED: dict[tuple[str, bool], tuple[object | None, str | None]] = {}
_CHECKED_MAX = 1024


def _check(path: Path, verify_checksum: bool) -> tuple[object | None, str | None]:
    from .modelfile import read_info

    ident = file_identity(path)
    key = (ident, verify_checksum) if ident is not None else None
    if key is not None and key in _CHECKED:
        return _CHECKED[key]
    try:
        got = (read_info(str(path), verify_checksum=verify_checksum), None)
    except StudioError as exc:
        got = (None, exc.problem)
    except Exception as exc:  # never let one file hide the library
        got = (None, f"cannot read ({type(exc).__name__}: {str(exc)[:200]})")
    if key is not None and file_identity(path) == ident:  # unchanged while it was read
        if len(_CHECKED) >= _CHECKED_MAX:
            _CHECKED.clear()
        _CHECKED[key] = got
    return got


def list_models(extra: list[str] | None = None, verify_checksum: bool = False) -> list[Entry]:
    """Every ``*.safetensors`` in the bundled, user and extra folders, sorted by source and name.

    Every file is listed: one that cannot be used carries the reason (one bad file never hides
    the rest; a FIFO or device is reported without being opened). Temporary ``.tmp-*`` files are
    never listed, and those a killed writer left behind are removed. A file checked before in
    this process and unchanged since (:func:`file_identity`) is not read again."""
    out = []
    for f, source in _library_files(extra):
        info, error = _check(f, verify_checksum)
        out.append(Entry(str(f), source, info, error))
    return out


#: what a listing reads of a model's card (a cache file edited by hand is not trusted further)
_CARD_KEYS = {"name": str, "architecture": dict, "parameterization": str, "process": dict,
              "data": dict, "conditioning": dict, "parameters": int}


def _card_fits(card, path: Path, source: str) -> bool:
    """Whether a cached card is one this listing could have written for ``path``."""
    if not (isinstance(card, dict) and card.get("source") == source
            and card.get("path") == str(path) and isinstance(card.get("reference"), str)):
        return False
    if "error" in card:
        return isinstance(card["error"], str)
    return (all(isinstance(card.get(k), t) for k, t in _CARD_KEYS.items())
            and isinstance(card["data"].get("shape"), list)
            and isinstance(card["conditioning"].get("num_classes"), int)
            and "id" in card["architecture"] and "kind" in card["process"])


def model_cards(extra: list[str] | None = None) -> list[dict]:
    """:meth:`Entry.card` of every model file of :func:`list_models`, from a cache file when
    the file and the studio's sources (:func:`studio.core.sourcekey.source_key`) are unchanged
    since it was checked, so that listing the library does not import the engine (torch).
    Files not in the cache are checked (importing it) and added."""
    import json

    from .sourcekey import cache_dir, source_key

    files = _library_files(extra)
    try:
        path = cache_dir() / f"models-{source_key()}.json"
    except Exception:  # noqa: BLE001 - no cache folder to find: check every file
        path = None
    cached: dict = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict) and isinstance(data.get("cards"), dict):
                cached = data["cards"]
        except (OSError, ValueError):
            pass
    cards, fresh, changed = [], {}, False
    for f, source in files:
        ident = file_identity(f)
        card = cached.get(ident) if ident is not None else None
        if not _card_fits(card, f, source):
            info, error = _check(f, False)
            card = json.loads(json.dumps(Entry(str(f), source, info, error).card(), default=str))
            changed = True
        if ident is not None:
            fresh[ident] = card
        cards.append(card)
    if path is not None and (changed or len(fresh) != len(cached)):
        try:
            from .atomic import write_atomic
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in path.parent.glob("models-*.json"):      # keys of earlier sources
                if old != path:
                    old.unlink(missing_ok=True)
            write_atomic(str(path), json.dumps({"cards": fresh}).encode())
        except OSError:
            pass
    return cards

"""The user's preferences (device, precision, model library folder, live preview rate, theme):
read from and written to the app settings (QSettings), and applied to a main window.

* device and precision are the run settings of new pipelines (File > New, and the default
  pipeline at start while it is untouched); a pipeline file keeps its own;
* the model library folder is where trained models are listed and saved
  (``STUDIO_MODELS_DIR`` for :mod:`studio.core.library`); empty = the default folder;
* the preview rate caps the live view updates per second during a run;
* the theme (dark or light) applies to the whole application at once.
"""
from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass

from ..defaults import default_pipeline
from .theme import THEMES, apply_theme

PREFIX = "preferences/"
LIBRARY_ENV = "STUDIO_MODELS_DIR"
#: the library folder from the environment at start (restored when the setting is cleared)
_ENV_LIBRARY = os.environ.get(LIBRARY_ENV)
#: the folder this module put into the environment (None: it has not touched it)
_APPLIED: str | None = None
DTYPES = ("float64", "float32")
FPS_RANGE = (1, 60)


@dataclass
class Preferences:
    device: str = "cpu"
    dtype: str = "float64"
    library: str = ""
    preview_fps: int = 60
    theme: str = "dark"

    @classmethod
    def load(cls, settings) -> "Preferences":
        d = cls()
        raw = {k: settings.value(PREFIX + k, getattr(d, k)) for k in asdict(d)}
        try:
            fps = int(float(raw["preview_fps"]))
        except (TypeError, ValueError):
            fps = d.preview_fps
        return cls(device=str(raw["device"] or d.device),
                   dtype=str(raw["dtype"]) if raw["dtype"] in DTYPES else d.dtype,
                   library=str(raw["library"] or ""),
                   preview_fps=min(max(fps, FPS_RANGE[0]), FPS_RANGE[1]),
                   theme=str(raw["theme"]) if raw["theme"] in THEMES else d.theme)

    def save(self, settings) -> None:
        for k, v in asdict(self).items():
            settings.set_value(PREFIX + k, v)
        settings.q.sync()


def is_untouched_default(doc) -> bool:
    """The document is the default pipeline, never edited and not from a file."""
    if doc.path is not None or doc.undo_stack.count() != 0:
        return False
    d, ref = doc.to_dict(), default_pipeline()
    return d["nodes"] == ref["nodes"] and d["links"] == ref["links"]


def default_with_run(prefs: Preferences) -> dict:
    data = copy.deepcopy(default_pipeline())
    data["run"]["device"] = prefs.device
    data["run"]["dtype"] = prefs.dtype
    return data


def apply_run_defaults(window, prefs: Preferences) -> bool:
    """Give the untouched default pipeline the preferred device and precision (not an edit: the
    document stays unmodified). True if it was changed."""
    doc = window.doc
    if not is_untouched_default(doc):
        return False
    if (doc.run.device, doc.run.dtype) == (prefs.device, prefs.dtype):
        return False
    doc.load_dict(default_with_run(prefs))
    return True


def default_library() -> str:
    """The library folder used when the setting is empty."""
    if _ENV_LIBRARY:
        return os.path.abspath(os.path.expanduser(_ENV_LIBRARY))
    import platformdirs
    return os.path.join(platformdirs.user_data_dir("diffusion-studio", appauthor=False), "models")


def apply_library(folder: str) -> bool:
    """Point the model library at ``folder``; "" leaves the environment's (or the default) folder,
    putting back what was there if an earlier setting had changed it. True if it changed."""
    global _APPLIED
    before = os.environ.get(LIBRARY_ENV)
    if folder:
        _APPLIED = os.path.abspath(os.path.expanduser(folder))
        os.environ[LIBRARY_ENV] = _APPLIED
    elif _APPLIED is not None:
        if before == _APPLIED:
            if _ENV_LIBRARY is not None:
                os.environ[LIBRARY_ENV] = _ENV_LIBRARY
            else:
                os.environ.pop(LIBRARY_ENV, None)
        _APPLIED = None
    return os.environ.get(LIBRARY_ENV) != before


def apply_preview_rate(window, fps: int) -> None:
    # the controller paces its updates from this floor (and resets to it at every run's start)
    window.controller.min_interval = max(1, int(round(1000 / max(1, fps))))


def available_device(device: str) -> bool:
    from ..runbar import devices
    return device in [d for d, _ in devices()]


def apply(window, prefs: Preferences, previous: Preferences | None = None) -> None:
    """Apply everything (at start: ``previous`` None)."""
    apply_theme(prefs.theme)
    apply_preview_rate(window, prefs.preview_fps)
    if apply_library(prefs.library) or (previous is not None and previous.library != prefs.library):
        window.browser.refresh()
    if previous is None and not available_device(prefs.device):
        window.log.warning(f"the preferred device {prefs.device!r} is not available here: "
                           "new pipelines run on the CPU")
        prefs = Preferences(**{**asdict(prefs), "device": "cpu"})
    apply_run_defaults(window, prefs)

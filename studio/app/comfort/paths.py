"""Where the comfort features keep their files: the app data folder.

* The user's data folder, ``platformdirs.user_data_dir("diffusion-studio")`` (the folder the model
  library lives in), when the app runs with its ordinary settings;
* beside the settings file (``<folder of the .ini>/studio-data``) when the window was given an
  explicit INI settings file: a portable installation, the self-test and the tests, which thus never
  touch the user's folder;
* ``STUDIO_DATA_DIR`` overrides both.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

APP_DIR_NAME = "diffusion-studio"


def data_dir(qsettings: QSettings | None = None, create: bool = True) -> Path:
    env = os.environ.get("STUDIO_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    elif qsettings is not None and qsettings.format() == QSettings.IniFormat and qsettings.fileName():
        path = Path(qsettings.fileName()).resolve().parent / "studio-data"
    else:
        import platformdirs
        path = Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def sub_dir(qsettings: QSettings | None, name: str) -> Path:
    """A folder of the data folder (created)."""
    path = data_dir(qsettings) / name
    path.mkdir(parents=True, exist_ok=True)
    return path

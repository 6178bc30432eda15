"""Keys for caches of what is computed from the studio's sources: a *source key* is a hash of the
Python version and of the size and modification time of every module of the ``studio`` package, of
every ``*.py`` of the user plugin folder, of the site-packages folders (where installing,
upgrading or removing a distribution, with ``diffusion_studio.plugins`` entry points or not,
changes the modification time) and of the variables that choose plugins (``STUDIO_NO_PLUGINS``,
``STUDIO_PLUGIN_DIR``, ``STUDIO_DATA_DIR``). Any change gives another key, so a cache file named
by it is never stale. Used by the CLI's registry tables and by the model library's listing.

The folder: ``STUDIO_CACHE_DIR``, else the user's cache folder (``platformdirs``). A folder that
cannot be written only costs the speed.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

VERSION = 1


def cache_dir() -> Path:
    env = os.environ.get("STUDIO_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("diffusion-studio", appauthor=False)) / "listings"


def _stat_tree(h, folder: str, recursive: bool = True) -> None:
    """Hash the path, size and modification time of every ``*.py`` under ``folder``."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__") if recursive else []
        for name in sorted(files):
            if name.endswith(".py"):
                try:
                    st = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                h.update(f"{root}/{name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())


def source_key() -> str:
    """The hash of everything the tables are made of (see the module docstring)."""
    import studio
    from .user_plugins import plugin_dir

    h = hashlib.sha256(f"{VERSION}\0{sys.version}\0{sys.executable}\n".encode())
    for var in ("STUDIO_NO_PLUGINS", "STUDIO_PLUGIN_DIR", "STUDIO_DATA_DIR"):
        h.update(f"{var}={os.environ.get(var, '')}\n".encode())
    _stat_tree(h, os.path.dirname(studio.__file__))
    if not os.environ.get("STUDIO_NO_PLUGINS"):
        try:
            _stat_tree(h, str(plugin_dir()), recursive=False)
        except Exception:  # noqa: BLE001 - no plugin folder to find: nothing to hash
            pass
        # entry points come with installed distributions: installing, upgrading or removing one
        # changes the modification time of the site-packages folder its metadata lies in
        # (cheaper than reading every distribution's entry points)
        import site
        folders = list(site.getsitepackages())
        if site.ENABLE_USER_SITE:
            folders.append(site.getusersitepackages())
        for folder in folders:
            try:
                st = os.stat(folder)
            except OSError:
                continue
            h.update(f"site\0{folder}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]

"""A cache of the registry tables (``studio solvers | processes | schedules``), so that listing
them does not import torch, which takes seconds, when nothing they are made of has changed.

The tables are computed from the live registries (:func:`studio.cli.tables.describe`, the same
code path either way) and kept in one JSON file per *source key* (:mod:`studio.core.sourcekey`):
any change of a module, plugin or installed distribution gives another key, so a stale table is
never shown; the first listing after a change imports the registries and writes the file.
"""
from __future__ import annotations

import json
from typing import Callable

from ..core.sourcekey import cache_dir, source_key

__all__ = ["cache_dir", "source_key", "cached_tables", "TABLES"]

TABLES = ("solvers", "processes", "schedules")


def cached_tables(compute: Callable[[], dict[str, list[dict]]]) -> dict[str, list[dict]]:
    """The tables (name -> rows): from the cache file of the current source key, else from
    ``compute()`` (which imports the registries), then stored for the next time."""
    path = cache_dir() / f"tables-{source_key()}.json"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, dict) and all(isinstance(data.get(t), list) for t in TABLES):
            return data
    except (OSError, ValueError):
        pass
    tables = compute()
    try:
        from ..core.atomic import write_atomic
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("tables-*.json"):      # keys of earlier sources
            old.unlink(missing_ok=True)
        write_atomic(str(path), json.dumps(tables, default=str).encode())
    except OSError:
        pass
    return tables

"""Arrays in pipeline files: inline nested lists or paths to ``.npy`` files (never pickles)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import ParamError


def resolve_path(path: str, base_dir: str | None) -> str:
    """A path relative to the pipeline file's folder (absolute paths kept)."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path) and base_dir:
        path = os.path.join(base_dir, path)
    return path


def load_array(value: Any, where: str, base_dir: str | None = None, ndim: int | None = None) -> np.ndarray:
    """An inline nested list, or a ``.npy`` path, as a float64 array; errors name ``where``."""
    if isinstance(value, str):
        path = resolve_path(value, base_dir)
        if not path.endswith(".npy"):
            raise ParamError(f"array files must be .npy, got {value!r}", where)
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ParamError(f"file not found: {path}", where) from None
        except ValueError as exc:
            raise ParamError(f"cannot read {path} as a numeric .npy array ({exc})", where) from None
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise ParamError("expected a rectangular array of numbers", where) from None
    if arr.dtype.kind not in "biuf":
        raise ParamError(f"expected a numeric array, got dtype {arr.dtype}", where)
    arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ParamError(f"expected a {ndim}-D array, got shape {list(arr.shape)}", where)
    if not np.all(np.isfinite(arr)):
        raise ParamError("array holds NaN or Inf", where)
    return arr

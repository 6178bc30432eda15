"""Arrays in pipeline files: inline nested lists or paths to ``.npy`` files (never pickles)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ParamError
from .untrusted import load_npy, resolve_reference


def resolve_path(path: str, base_dir: str | None, where: str = "path") -> str:
    """A path relative to the pipeline file's folder; with a folder it must stay inside the
    trusted folders unless outside paths are allowed (see :mod:`studio.core.untrusted`)."""
    return resolve_reference(path, base_dir, where, ParamError)


def load_array(value: Any, where: str, base_dir: str | None = None, ndim: int | None = None) -> np.ndarray:
    """An inline nested list, or a ``.npy`` path, as a float64 array; errors name ``where``."""
    if isinstance(value, str):
        if not value.endswith(".npy"):
            raise ParamError(f"array files must be .npy, got {value[:200]!r}", where)
        path = resolve_path(value, base_dir, where)
        arr = load_npy(path, f"{where}: {value}", ParamError)
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

"""The one boundary for untrusted input: files and JSON that come from a user, a shared pipeline,
a PNG from the web or a downloaded model.

Everything a pipeline, a model file, a ``.npy`` array, a PNG or a config hands the engine passes
through here first, and every check runs before any work or allocation:

* **Regular files only** (:func:`read_regular`, :func:`check_regular`): a FIFO, a device, a socket
  or a folder is refused before it is opened (and checked again on the open descriptor, which is
  opened non-blocking, so a FIFO swapped in between can never block); reads are bounded.
* **JSON** (:func:`loads_json`): limits on nesting depth, string and key length and integer
  range; ``NaN``/``Infinity`` and numbers that overflow a float are refused. Deep nesting never
  reaches Python's recursion limit.
* **.npy** (:func:`load_npy`): the header is parsed (a literal, never a pickle) and its dtype,
  shape and size checked against the file's real size before a single element is allocated.
* **Referenced files** (:func:`resolve_reference`): a path named inside a pipeline resolves
  inside the pipeline's folder, the model library or ``assets:``; anything else needs an explicit
  user choice (:func:`allow_outside_paths`, the CLI's ``--allow-outside-paths``).

Every refusal is a :class:`~studio.core.errors.StudioError` (or the subclass the caller asks for)
that names the file or field and the problem.
"""
from __future__ import annotations

import json
import math
import os
import stat
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:      # numpy is imported where an array is read: `studio --help` stays light
    import numpy as np

from .atomic import file_kind as _kind
from .errors import ParamError, StudioError, json_problem

__all__ = ["LIMITS", "read_regular", "check_regular", "loads_json", "check_json", "load_npy",
           "resolve_reference", "allow_outside_paths", "outside_paths_allowed", "is_inside",
           "outside_references", "approve", "check_seed"]

#: the limits of the boundary (bytes, characters, levels); tests and docs read them from here
LIMITS = {
    "json_depth": 64,             # nesting of objects and arrays
    "json_string": 1 << 20,       # characters in one string value
    "json_key": 256,              # characters in one object key (node ids, parameter names)
    "json_int_digits": 19,        # |integer| < 10**19 (beyond 64 bits is refused)
    "json_bytes": 64 << 20,       # a pipeline or config file
    "npy_bytes": 2 << 30,         # the data of one .npy array
    "png_bytes": 256 << 20,       # a PNG that may carry a pipeline
    "model_bytes": 4 << 30,       # a model file
}
_state = threading.local()
_global_allow = [False]
#: files the user chose explicitly (the app's file dialogs, a confirmation that named them)
_approved: set[str] = set()


# -- regular files ----------------------------------------------------------------------------
def check_regular(path: str | os.PathLike, where: str | None = None,
                  error: type[StudioError] = StudioError, max_bytes: int | None = None) -> int:
    """The size of ``path`` if it is a readable regular file (symlinks followed), else ``error``."""
    where = where or os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error("cannot read: file not found", where) from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read: {getattr(exc, 'strerror', None) or exc}", where) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"is {_kind(st.st_mode)}, not a regular file; give a file", where)
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"the file is {st.st_size} bytes, more than the limit of {_size(max_bytes)}",
                    where)
    return st.st_size


def _open_regular(path, where: str, error, max_bytes: int | None):
    check_regular(path, where, error, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", where) from None
    st = os.fstat(fd)  # the file may have been swapped since the first look
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise error(f"is {_kind(st.st_mode)}, not a regular file; give a file", where)
    return os.fdopen(fd, "rb"), st.st_size


def read_regular(path: str | os.PathLike, where: str | None = None,
                 error: type[StudioError] = StudioError, max_bytes: int = LIMITS["json_bytes"]) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (a FIFO, device or folder refused
    without blocking; a file that grows while read is cut off and refused)."""
    where = where or os.fspath(path)
    fh, _ = _open_regular(path, where, error, max_bytes)
    try:
        with fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", where) from None
    if len(data) > max_bytes:
        raise error(f"the file is larger than the limit of {_size(max_bytes)}", where)
    return data


def _size(n: int) -> str:
    for unit, k in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:.4g} {unit}"
    return f"{n} bytes"


# -- JSON -------------------------------------------------------------------------------------
def _parse_constant(name: str):
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:30]} is out of range")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > LIMITS["json_int_digits"]:
        raise ValueError(f"the integer {text[:24]}... has more than {LIMITS['json_int_digits']} "
                         "digits")
    return int(text)


def loads_json(text: str | bytes, where: str, error: type[StudioError] = StudioError, *,
               max_depth: int | None = None, max_string: int | None = None,
               max_key: int | None = None) -> Any:
    """Parse JSON text within the limits; any violation is ``error`` naming ``where`` (and the
    JSON path of the offending value)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise error("not UTF-8 text", where) from None
    try:
        data = json.loads(text, parse_constant=_parse_constant, parse_float=_parse_float,
                          parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise error(json_problem(exc), where) from None
    except RecursionError:
        raise error(f"JSON nested deeper than {max_depth or LIMITS['json_depth']} levels",
                    where) from None
    except ValueError as exc:
        raise error(f"not acceptable JSON: {exc}", where) from None
    check_json(data, where, error, max_depth=max_depth, max_string=max_string, max_key=max_key)
    return data


def check_json(data: Any, where: str, error: type[StudioError] = StudioError, *,
               max_depth: int | None = None, max_string: int | None = None,
               max_key: int | None = None) -> None:
    """Check an already parsed JSON value (or a dict built in code) against the limits,
    iteratively (no recursion); values that JSON cannot hold (numpy arrays) are not examined."""
    max_depth = max_depth or LIMITS["json_depth"]
    max_string = max_string or LIMITS["json_string"]
    max_key = max_key or LIMITS["json_key"]
    limit = 10 ** LIMITS["json_int_digits"]
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth >= max_depth:
                raise error(f"JSON nested deeper than {max_depth} levels", _at(where, path))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(value, dict):
                    if not isinstance(k, str):
                        raise error("object keys must be strings", _at(where, path))
                    if len(k) > max_key:
                        raise error(f"a key of {len(k)} characters (limit {max_key})",
                                    _at(where, path))
                    sub = f"{path}.{k}" if path else k
                else:
                    sub = f"{path}[{k}]"
                stack.append((v, depth + 1, sub))
        elif isinstance(value, str):
            if len(value) > max_string:
                raise error(f"a string of {len(value)} characters (limit {max_string})",
                            _at(where, path))
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if abs(value) >= limit:
                raise error(f"the integer {value if abs(value) < 10 ** 40 else '(huge)'} is out "
                            f"of range (|n| < 10**{LIMITS['json_int_digits']})", _at(where, path))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise error("numbers must be finite (no NaN or Infinity)", _at(where, path))
        # other values (numpy arrays and scalars in a dict built in code) are the caller's own


def _at(where: str, path: str) -> str:
    if not path:
        return where
    if len(path) > 120:
        path = "..." + path[-117:]
    return f"{where}: {path}"


def check_seed(value: Any, where: str, error: type[StudioError] = ParamError) -> int:
    """A seed as an int that torch's generators take: -2**63 <= seed < 2**63."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"seed must be an integer, got {value!r}", where)
    if not -2 ** 63 <= value < 2 ** 63:
        raise error("seed must fit in 64 bits (-2**63 <= seed < 2**63)", where)
    return value


# -- .npy arrays -----------------------------------------------------------------------------
def load_npy(path: str | os.PathLike, where: str | None = None,
             error: type[StudioError] = ParamError, max_bytes: int | None = None) -> np.ndarray:
    """A numeric ``.npy`` array, its header checked before any allocation (never a pickle)."""
    import numpy as np
    from numpy.lib import format as npf

    where = where or os.fspath(path)
    max_bytes = LIMITS["npy_bytes"] if max_bytes is None else max_bytes
    fh, size = _open_regular(path, where, error, None)
    with fh:
        try:
            version = npf.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npf.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npf.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except Exception as exc:  # numpy raises ValueError/SyntaxError/... for bad headers
            msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise error(f"not a valid .npy file ({msg})", where) from None
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biuf":
            raise error(f"expected a numeric array, got dtype {dtype}", where)
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise error(f"bad shape {shape!r} in the .npy header", where)
        count = math.prod(shape)
        need = count * dtype.itemsize
        have = size - fh.tell()
        if need > max_bytes:
            raise error(f"the header claims shape {list(shape)} ({_size(need)}), more "
                        f"than the limit of {_size(max_bytes)}", where)
        if need != have:
            raise error(f"the header claims shape {list(shape)} of {dtype} "
                        f"({need} bytes) but the file holds {have} bytes of data", where)
        data = fh.read(need)
    if len(data) != need:
        raise error(f"truncated while reading", where)
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


# -- referenced files ------------------------------------------------------------------------
def allow_outside_paths(flag: bool = True) -> None:
    """Let pipelines read files outside their folder for the rest of this process (the CLI's
    ``--allow-outside-paths``: an explicit user choice)."""
    _global_allow[0] = bool(flag)


@contextmanager
def outside_paths_allowed(flag: bool = True):
    """Allow (or forbid) outside paths in this thread while the block runs (the app's
    confirmation that names the file)."""
    old = getattr(_state, "allow", None)
    _state.allow = bool(flag)
    try:
        yield
    finally:
        _state.allow = old


def approve(paths) -> None:
    """Record files the user chose explicitly (a file dialog, a confirmation naming them): a
    pipeline may read them wherever they lie, for the rest of this process."""
    for p in paths:
        if isinstance(p, str) and p and "\0" not in p:
            _approved.add(os.path.realpath(os.path.expanduser(p)))


def _allowed() -> bool:
    local = getattr(_state, "allow", None)
    return _global_allow[0] if local is None else local


def is_inside(path: str, root: str) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside the folder ``root``."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    try:
        return os.path.commonpath([real, base]) == base
    except ValueError:
        return False


def trusted_roots(base_dir: str | None) -> list[str]:
    """The folders a pipeline may read from: its own, the model library's and the bundled ones."""
    from .library import bundled_dir, extra_dirs, user_dir
    roots = [base_dir] if base_dir else []
    roots += [str(bundled_dir()), str(user_dir())] + [str(p) for p in extra_dirs()]
    return roots


def resolve_reference(value: str, base_dir: str | None, where: str,
                      error: type[StudioError] = ParamError) -> str:
    """The path a pipeline names, relative to its folder. With a folder (a pipeline read from a
    file or PNG), the path must stay inside a trusted root unless outside paths are allowed;
    without one (a pipeline built in code) the caller is trusted."""
    if not isinstance(value, str) or not value:
        raise error("expected a file path", where)
    if "\0" in value:
        raise error("a file path cannot contain NUL characters", where)
    path = os.path.expanduser(value)
    if not os.path.isabs(path) and base_dir:
        path = os.path.join(base_dir, path)
    if not base_dir or _allowed():
        return path
    if any(is_inside(path, root) for root in trusted_roots(base_dir)) \
            or os.path.realpath(path) in _approved:
        return path
    raise error(f"{value!r} lies outside the pipeline's folder ({base_dir}); a shared pipeline may "
                "only read files beside it, in the model library or assets: (to read it anyway "
                "pass --allow-outside-paths)", where)


def outside_references(data: Any, base_dir: str | None) -> list[tuple[str, str]]:
    """(where, path) of every file a pipeline dict names (``.npy``/``.safetensors`` strings in
    node parameters, ``assets:`` excepted) that lies outside the trusted folders of
    ``base_dir``: what the app names when it asks before reading them."""
    out: list[tuple[str, str]] = []
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        return out
    roots = trusted_roots(base_dir)
    stack = [(f"node {nid!r}.params", (node or {}).get("params") if isinstance(node, dict) else None)
             for nid, node in nodes.items()]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif (isinstance(value, str) and value.lower().endswith((".npy", ".safetensors"))
              and not value.startswith("assets:") and "\0" not in value):
            path = os.path.expanduser(value)
            if not os.path.isabs(path) and base_dir:
                path = os.path.join(base_dir, path)
            if not any(is_inside(path, root) for root in roots) \
                    and os.path.realpath(path) not in _approved:
                out.append((where, value))
    return sorted(out)

"""Output files: checked up front, written atomically, never destructive.

* :func:`check_output` runs before any work: the target is a regular file (or a symlink to one)
  or a new name in an existing, writable folder; a folder, a device (``/dev/null``), a FIFO or a
  socket is refused, and a missing folder is created only when asked (the CLI's ``--mkdir``).
* :func:`write_atomic` writes a temporary file ``.tmp-*`` beside the target, flushes it to disk
  and renames it over the target, so a crash or a full disk never leaves a half-written file; the
  old file's permissions (and owner, where allowed) are kept; the temporary file is removed on any
  failure, and the failure is a :class:`StudioError` naming the file.
"""
from __future__ import annotations

import os
import stat
import tempfile

from .errors import StudioError

#: names of temporary files; a file with this prefix is never a finished output
TMP_PREFIX = ".tmp-"


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words (from its ``st_mode``)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _target(path: str, where: str) -> tuple[str, os.stat_result | None]:
    """The file to replace (a symlink's target) and its stat, or None for a new name."""
    if not path or "\0" in path:
        raise StudioError("give an output file name", where)
    real = os.path.realpath(path) if os.path.islink(path) else path
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real, None
    except OSError as exc:
        raise StudioError(f"cannot use as an output: {exc.strerror or exc}", where) from None
    if not stat.S_ISREG(st.st_mode):
        raise StudioError(f"{path} is {file_kind(st.st_mode)}; name a regular file (it is never "
                          "overwritten)", where)
    return real, st


def check_output(path: str | os.PathLike, where: str = "--out", mkdir: bool = False,
                 folder: bool = False) -> str:
    """Check an output path before any work starts; return it.

    ``folder=True`` checks an output folder instead (a folder, or a new name whose parent
    exists). A missing parent folder is an error unless ``mkdir``, which creates it.
    """
    path = os.fspath(path)
    if folder:
        if not path or "\0" in path:
            raise StudioError("give an output folder", where)
        if os.path.exists(path):
            if not os.path.isdir(path):
                raise StudioError(f"{path} exists and is not a folder", where)
            _writable(path, where)
            return path
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent) and not mkdir:
            raise StudioError(f"the folder {parent} does not exist (pass --mkdir to create it)",
                              where)
        return path
    _target(path, where)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        if os.path.exists(parent):
            raise StudioError(f"{parent} is not a folder", where)
        if not mkdir:
            raise StudioError(f"the folder {parent} does not exist (pass --mkdir to create it)",
                              where)
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise StudioError(f"cannot create the folder {parent}: {exc.strerror}", where) from None
    _writable(parent, where)
    return path


def _writable(folder: str, where: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StudioError(f"the folder {folder} is not writable", where)
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            raise StudioError(f"the folder {folder} is on a read-only file system", where)
    except (AttributeError, OSError):
        pass


def write_atomic(path: str | os.PathLike, text: str | bytes, mkdir: bool = True) -> None:
    """Write a file so that a crash never leaves it half written (see the module docstring)."""
    path = os.fspath(path)
    target, old = _target(path, path)
    folder = os.path.dirname(os.path.abspath(target))
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    tmp = None
    try:
        if mkdir:
            os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX,
                                   suffix=os.path.basename(target)[-64:])
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if old is not None:
            os.chmod(tmp, stat.S_IMODE(old.st_mode))
            if hasattr(os, "chown") and (old.st_uid, old.st_gid) != _owner(tmp):
                try:
                    os.chown(tmp, old.st_uid, old.st_gid)
                except OSError:
                    pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        _target(target, path)  # still a regular file (or a new name) just before the rename
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise StudioError(f"cannot write: {exc.strerror or exc}", path) from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _owner(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_gid


def clean_stray_temporaries(folder: str | os.PathLike, older_than: float = 600.0,
                            pattern: str = ".safetensors") -> list[str]:
    """Remove ``.tmp-*`` files ending in ``pattern`` left in ``folder`` by a killed writer
    (only those untouched for ``older_than`` seconds, so a write in progress is never hit);
    return the removed paths."""
    import time
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not (name.startswith(TMP_PREFIX) and name.endswith(pattern)):
            continue
        p = os.path.join(folder, name)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= older_than:
                os.unlink(p)
                removed.append(p)
        except OSError:
            pass
    return removed

"""Crash reports and one-line messages, shared by the CLI and the app: an internal error (a bug in
the studio or in a plugin) is told in one sentence that names a crash report holding the
traceback, never as a traceback in the message."""
from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback


def one_line(text: str, limit: int = 2000) -> str:
    """A message on one line (newlines folded), cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def crash_dir() -> str:
    """Where crash reports go: ``$STUDIO_CRASH_DIR``, else the user's cache folder."""
    env = os.environ.get("STUDIO_CRASH_DIR")
    if env:
        return os.path.expanduser(env)
    try:
        import platformdirs
        return os.path.join(platformdirs.user_cache_dir("diffusion-studio", appauthor=False),
                            "crash-reports")
    except Exception:
        return os.path.join(tempfile.gettempdir(), "diffusion-studio-crash-reports")


def write_crash_report(exc: BaseException, argv: list[str] | None = None) -> str | None:
    """Write the traceback and context of ``exc`` to a new file; its path (None if no folder
    could take it)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"studio crash report {datetime.datetime.now().isoformat()}\n"
            f"argv: {argv if argv is not None else sys.argv}\n"
            f"python: {sys.version.split()[0]} on {sys.platform}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for folder in (crash_dir(), os.path.join(tempfile.gettempdir(),
                                             "diffusion-studio-crash-reports")):
        try:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"crash-{stamp}-{os.getpid()}.txt")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return None


def internal_message(exc: BaseException, args=None,
                     hint: str = " (run with --debug for the traceback)") -> str:
    """The one line for an internal error, naming the crash report."""
    path = write_crash_report(exc)
    what = one_line(f"{type(exc).__name__}: {exc}", 300)
    tail = f"; crash report: {path}" if path else ""
    return f"{what}{tail}{hint}"

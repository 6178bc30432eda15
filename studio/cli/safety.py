"""What every ``studio`` command shares for safety: the common options, one-line messages and
crash reports.

* ``--debug``: let an internal error raise with its traceback (otherwise: one line and the path
  of a crash report, exit 1).
* ``--allow-outside-paths``: let a pipeline (or a PNG's embedded pipeline) read files outside its
  own folder, the model library and ``assets:`` (see :mod:`studio.core.untrusted`).
* ``--mkdir`` (commands with ``--out``): create a missing output folder; without it ``--out``
  creates no folders.

Warnings about degenerate but accepted settings (:class:`studio.core.errors.StudioWarning`) are
printed as one line each, ``studio: warning: ...``.
"""
from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback
import warnings
from contextlib import contextmanager


def add_common_arguments(sp) -> None:
    """The options every sub-command takes."""
    sp.add_argument("--debug", action="store_true",
                    help="show the full traceback of an internal error")
    sp.add_argument("--allow-outside-paths", action="store_true",
                    help="let the pipeline read files outside its folder, the model library and "
                    "assets:")
    if "--out" in getattr(sp, "_option_string_actions", {}):
        sp.add_argument("--mkdir", action="store_true",
                        help="create the folder of --out if it does not exist")
    one_line_usage_errors(sp)


def one_line_usage_errors(parser) -> None:
    """Make ``parser`` (and its sub-parsers) report a usage error as one line, exit code 2."""
    import argparse

    def error(message, parser=parser):
        print(f"{parser.prog}: error: {one_line(message)} (see {parser.prog} --help)",
              file=sys.stderr)
        raise SystemExit(2)

    parser.error = error
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                one_line_usage_errors(sub)


def one_line(text: str, limit: int = 2000) -> str:
    """A message on one line (newlines folded), cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@contextmanager
def cli_guard(args):
    """Apply the common options while a command runs: the outside-path policy, warnings as
    one-line messages, and out-of-memory as bad input."""
    from ..core.errors import StudioError, StudioWarning
    from ..core.untrusted import allow_outside_paths

    allow_outside_paths(bool(getattr(args, "allow_outside_paths", False)))
    old_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, StudioWarning):
            print(f"studio: warning: {one_line(str(message))}", file=sys.stderr)
        else:
            old_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", StudioWarning)
            warnings.showwarning = show
            yield
    except MemoryError:
        raise StudioError("ran out of memory; use a smaller batch, fewer steps (or no "
                          "--trajectory) or less data", getattr(args, "command", "studio")) from None
    finally:
        warnings.showwarning = old_show
        allow_outside_paths(False)


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


@contextmanager
def deferred_interrupt(note: str | None = None):
    """Hold Ctrl-C while the block writes (a checkpoint, the outputs): a second Ctrl-C cannot
    cut a save short; the interrupt is raised when the block is done. Main thread only."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits: list[int] = []

    def handler(signum, frame):
        hits.append(signum)
        if note and len(hits) == 1:
            print(f"\nstudio: {note}", file=sys.stderr)

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if hits:
        raise KeyboardInterrupt

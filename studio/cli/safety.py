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

import sys
import warnings
from contextlib import contextmanager

from ..core.crash import crash_dir, internal_message, one_line, write_crash_report  # noqa: F401


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

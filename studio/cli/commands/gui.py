"""`studio gui [PIPELINE.json] [--run] [--screenshot OUT.png] [--quit] [--self-test]`: the desktop
application."""
from __future__ import annotations

import sys

NAME = "gui"
HELP = "open the application (automation options for docs and tests)"


def add_arguments(p) -> None:
    p.add_argument("pipeline", nargs="?", help="pipeline JSON to open")
    p.add_argument("--run", action="store_true", help="run the pipeline to the end")
    p.add_argument("--screenshot", help="save a PNG of the whole window")
    p.add_argument("--quit", action="store_true", help="quit when done")
    p.add_argument("--self-test", action="store_true",
                   help="smoke test: run the pipeline (default one) offscreen, check the result, "
                   "save the screenshot (--screenshot), exit 0 or 1 (same as `studio self-test`)")


def run(args) -> int:
    if getattr(args, "self_test", False):
        from .selftest import run as self_test
        args.timeout = 300.0
        return self_test(args)
    try:
        from ...app.main import run_app
    except ImportError as exc:
        print(f"studio: the application is not available ({exc})", file=sys.stderr)
        return 1
    return run_app(args)

"""`studio self-test [--screenshot PNG] [--pipeline FILE] [--timeout S]`: the installation's smoke
test (the bundled app's ``DiffusionStudio --self-test``)."""
from __future__ import annotations

import sys

NAME = "self-test"
HELP = "open the app offscreen, run the default pipeline, check the result, save a screenshot"


def add_arguments(p) -> None:
    p.add_argument("--screenshot", help="where to save the window's PNG (default: a file in the "
                   "temporary folder)")
    p.add_argument("--pipeline", help="a pipeline JSON (or PNG) instead of the default pipeline")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds the run may take (300)")


def run(args) -> int:
    try:
        from ...app.selftest import run_selftest
    except ImportError as exc:
        print(f"studio: self-test: the application is not available ({exc})", file=sys.stderr)
        return 1
    return run_selftest(args.screenshot, args.pipeline, args.timeout)

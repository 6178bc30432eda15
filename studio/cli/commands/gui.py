"""`studio gui [PIPELINE.json] [--run] [--screenshot OUT.png] [--quit]`: the desktop application."""
from __future__ import annotations

import sys

NAME = "gui"
HELP = "open the application (automation options for docs and tests)"


def add_arguments(p) -> None:
    p.add_argument("pipeline", nargs="?", help="pipeline JSON to open")
    p.add_argument("--run", action="store_true", help="run the pipeline to the end")
    p.add_argument("--screenshot", help="save a PNG of the whole window")
    p.add_argument("--quit", action="store_true", help="quit when done")


def run(args) -> int:
    try:
        from ...app.main import run_app
    except ImportError as exc:
        print(f"studio: the application is not available ({exc})", file=sys.stderr)
        return 1
    return run_app(args)

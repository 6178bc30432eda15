"""`studio processes [--json]`: list the processes with their parameters."""
from __future__ import annotations

NAME = "processes"
HELP = "list the processes with their parameters (--json for machines)"


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")


def run(args) -> int:
    from ..tables import print_table

    print_table(NAME, args.json)
    return 0

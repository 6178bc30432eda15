"""`studio operators [--json]`: the inverse-problem measurement operators and the guidance kinds
that condition on them, with their parameters."""
from __future__ import annotations

import json

NAME = "operators"
HELP = "list the inverse-problem operators and methods with their parameters (--json for machines)"


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON object {operators, methods}")


def run(args) -> int:
    from ...core.inverse.guidance import InverseGuidance
    from ...core.inverse.operators import OPERATORS
    from ...core.registry import GUIDANCE
    from ..tables import _fmt_params, describe

    ops = describe(OPERATORS)
    methods = [row for row in describe(GUIDANCE)
               if issubclass(GUIDANCE.get(row["id"]), InverseGuidance)]
    if args.json:
        print(json.dumps({"operators": ops, "methods": methods}, indent=2, default=str))
        return 0
    print("operators (the guidance node's \"operator\": {\"kind\": id, ...params})")
    for row in ops:
        print(f"  {row['id']:<20} {row['title']}")
        if row["params"]:
            print(f"  {'':<20} {_fmt_params(row['params'])}")
    print("\nmethods (guidance kinds; all take operator, y, sigma_y)")
    common = {"operator", "y", "sigma_y"}
    for row in methods:
        own = [p for p in row["params"] if p["name"] not in common]
        print(f"  {row['id']:<20} {row['title']}")
        if own:
            print(f"  {'':<20} {_fmt_params(own)}")
    return 0

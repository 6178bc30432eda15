"""`studio solvers | processes | schedules`: the registries as tables or JSON."""
from __future__ import annotations

import json
import sys

from ..core.params import param_specs
from ..core.registry import PROCESSES, SCHEDULES, SOLVERS, Registry


def _params(cls) -> list[dict]:
    return [s.to_json() for s in param_specs(cls) if s.name != "schedule_params"]


def describe(registry: Registry) -> list[dict]:
    rows = []
    for pid, cls in registry.items():
        row = {"id": pid, "title": getattr(cls, "title", ""), "doc": (cls.__doc__ or "").strip()}
        if registry is SOLVERS:
            row.update({"order": cls.order, "stochastic": bool(cls.stochastic),
                        "adaptive": cls.adaptive, "evals_per_step": cls.evals_per_step})
        row["params"] = _params(cls)
        rows.append(row)
    return rows


def _fmt_params(params: list[dict]) -> str:
    return ", ".join(f"{p['name']}={p.get('default', '?')!r}" if "default" in p else p["name"]
                     for p in params)


def all_tables() -> dict[str, list[dict]]:
    """Every table of :data:`~studio.cli.listing_cache.TABLES`, from the live registries."""
    return {"solvers": describe(SOLVERS), "processes": describe(PROCESSES),
            "schedules": describe(SCHEDULES)}


def print_table(which: str, as_json: bool) -> None:
    from .listing_cache import cached_tables
    # cached per source key: no torch import when no module or plugin changed since last time;
    # a process that has torch already (the registries may hold plugins registered at run time)
    # lists them live
    rows = (all_tables() if "torch" in sys.modules else cached_tables(all_tables))[which]
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    base = {"steps", "nfe", "schedule", "shift", "denoise_final"}
    for row in rows:
        params = [p for p in row["params"] if which != "solvers" or p["name"] not in base]
        if which == "solvers":
            kind = "SDE" if row["stochastic"] else "ODE"
            head = f"{row['id']:<22} order {row['order']}  {kind}  {row['title']}"
        else:
            head = f"{row['id']:<22} {row['title']}"
        print(head)
        if params:
            print(f"{'':<24}{_fmt_params(params)}")
    if which == "solvers":
        print("\nevery solver also takes: steps | nfe, schedule (+ its params), shift, denoise_final")

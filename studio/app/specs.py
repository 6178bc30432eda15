"""What the editor knows about node kinds, read live from the engine's registries (Qt-free).

Registries grow while the app runs (plugins), so nothing here is cached: every call asks the
registry again.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..core.errors import StudioError
from ..core.params import ParamSpec, check_value, param_specs
from ..core.pipeline import LINKS, NODE_TYPES, Node, build_plugin, build_solver
from ..core.registry import SCHEDULES, SOLVERS

#: node types in the order the palette and menus show them
TYPES = ("process", "network", "guidance", "solver")
TYPE_TITLES = {"process": "Process", "network": "Network", "guidance": "Guidance", "solver": "Solver"}


def has_input(ntype: str) -> bool:
    return any(ntype in targets for targets in LINKS.values())


def has_output(ntype: str) -> bool:
    return bool(LINKS.get(ntype))


def kinds(ntype: str) -> list[str]:
    return NODE_TYPES[ntype].ids()


def kind_class(ntype: str, kind: str) -> type:
    return NODE_TYPES[ntype].get(kind)


def kind_title(ntype: str, kind: str) -> str:
    try:
        cls = kind_class(ntype, kind)
    except StudioError:
        return kind
    return getattr(cls, "title", "") or kind


def kind_doc(ntype: str, kind: str) -> str:
    try:
        cls = kind_class(ntype, kind)
    except StudioError:
        return ""
    return " ".join((cls.__doc__ or "").split())


def _internal(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if (f.metadata or {}).get("internal")}


def specs(ntype: str, kind: str) -> list[ParamSpec]:
    """The parameters the inspector shows for a node's own kind (internal fields hidden)."""
    cls = kind_class(ntype, kind)
    hidden = _internal(cls)
    return [s for s in param_specs(cls) if s.name not in hidden]


def schedule_specs(kind: str, params: dict) -> tuple[str, list[ParamSpec]]:
    """For a solver: its chosen schedule id and that schedule's parameters (flattened into the
    solver's params in the pipeline format)."""
    own = {s.name: s for s in specs("solver", kind)}
    sched = params.get("schedule", own["schedule"].default if "schedule" in own else None)
    if not isinstance(sched, str) or sched not in SCHEDULES:
        return str(sched), []
    return sched, [s for s in param_specs(SCHEDULES.get(sched)) if s.name not in own]


def all_specs(ntype: str, kind: str, params: dict) -> list[ParamSpec]:
    out = specs(ntype, kind)
    if ntype == "solver":
        out = out + schedule_specs(kind, params)[1]
    return out


def effective(spec: ParamSpec, params: dict) -> Any:
    """The value a node uses: the one it sets, else the declared default (None if required)."""
    if spec.name in params:
        return params[spec.name]
    return None if spec.required else spec.default


def check(spec: ParamSpec, value: Any, where: str) -> Any:
    return check_value(spec, value, where)


def with_schedule(kind: str, params: dict, schedule: str) -> dict:
    """A solver's params after choosing another schedule: parameters of the old schedule that the
    new one lacks are dropped, so the node stays valid."""
    out = dict(params)
    _, old = schedule_specs(kind, out)
    out["schedule"] = schedule
    _, new = schedule_specs(kind, out)
    keep = {s.name for s in new}
    for s in old:
        if s.name not in keep:
            out.pop(s.name, None)
    return out


def validate_node(ntype: str, kind: str, params: dict, base_dir: str | None = None) -> str | None:
    """None if the node's parameters build, else the problem. Networks are checked field by field
    without being built (building one may load a large file)."""
    where = "params"
    try:
        if ntype == "solver":
            build_solver(kind, params, "")
        elif ntype == "network":
            sp = {s.name: s for s in specs(ntype, kind)}
            unknown = sorted(set(params) - set(sp))
            if unknown:
                return f"unknown parameter {unknown[0]!r}"
            for name, s in sp.items():
                if name in params:
                    check_value(s, params[name], name)
                elif s.required:
                    return f"missing required parameter {name!r}"
        else:
            build_plugin(Node("n", ntype, kind, dict(params)), where, base_dir)
    except StudioError as exc:
        text = str(exc)
        return text[2:] if text.startswith(": ") else text
    return None


def solver_classes() -> dict[str, type]:
    return dict(SOLVERS.items())

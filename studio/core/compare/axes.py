"""Sweep axes: a comparison is a base pipeline plus up to three axes, each a list of values for

* a node parameter, ``node.param`` (``cfg.scale``, ``proc.sigma_max``, ``s.eta``, a network's
  ``path`` ...), checked against the parameter's type, range and choices;
* a run setting, ``run.seed``, ``run.batch`` or ``run.labels``;
* a whole node swapped, ``node`` alone: each value is a node of the same type, written as
  ``kind`` or ``kind:key=value:key=value`` on the command line (``{"kind", "params"}`` in JSON),
  e.g. ``model=file:path=a.safetensors,file:path=b.safetensors`` or ``proc=vp-cosine,edm``.

The axes cross the comparison's (solver, schedule) rows: every point of the axes' product is a
pipeline (:func:`apply_point`), and each cell of that point is exactly ``studio run`` of the
single-solver pipeline :meth:`CompareSpec.cell_pipeline` returns. Every axis is validated before
anything runs, and an error names the axis (``--axis cfg.scale``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ParamError, StudioError
from ..params import check_value, param_specs

#: at most this many axes cross the solver x schedule x NFE grid
MAX_AXES = 3
RUN_KEYS = ("seed", "batch", "labels")
#: solver params set per cell by the comparison itself (--nfe, --schedules)
_BUDGET = ("steps", "nfe", "schedule")


@dataclass
class Axis:
    """One sweep axis: ``target`` (``node.param``, ``run.KEY`` or a node id) and its values."""

    target: str
    values: list
    labels: list = field(default_factory=list)

    def __post_init__(self):
        if not self.labels:
            self.labels = [value_label(v) for v in self.values]

    @property
    def kind(self) -> str:
        """``param``, ``run`` or ``node`` (a whole node swapped)."""
        if "." not in self.target:
            return "node"
        return "run" if self.target.split(".", 1)[0] == "run" else "param"

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def to_dict(self) -> dict:
        return {"target": self.target, "values": copy.deepcopy(self.values),
                "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "Axis":
        if not isinstance(d, dict) or not isinstance(d.get("target"), str) \
                or not isinstance(d.get("values"), list):
            raise ParamError('an axis is {"target": "node.param", "values": [...]}', where)
        labels = d.get("labels") or []
        if labels and len(labels) != len(d["values"]):
            raise ParamError("labels and values differ in length", where)
        return cls(d["target"], copy.deepcopy(d["values"]), list(labels))


def value_label(v: Any) -> str:
    if isinstance(v, dict) and "kind" in v:
        p = v.get("params") or {}
        return v["kind"] if not p else f"{v['kind']}({', '.join(f'{k}={value_label(x)}' for k, x in p.items())})"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return v
    return json.dumps(v)


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at top-level commas (commas inside [...], {...} or quotes are kept)."""
    out, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v]


def _json_or_str(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_axis(text: str, where: str = "--axis") -> Axis:
    """``node.param=v1,v2``, ``run.seed=0,1,2`` or ``node=kind:k=v,kind2`` -> an :class:`Axis`
    (values read as JSON where they parse, else strings; node swaps as ``kind:key=value``)."""
    from .spec import _parse_item

    if "=" not in text:
        raise ParamError(f"cannot read {text!r}; write node.param=v1,v2,... or node=kind1,kind2",
                         where)
    target, rest = (p.strip() for p in text.split("=", 1))
    if not target:
        raise ParamError(f"{text!r} names no node or parameter", where)
    where = f"{where} {target}"
    items = split_values(rest)
    if not items:
        raise ParamError("give at least one value", where)
    if "." in target:
        values = [_json_or_str(v) for v in items]
    else:
        values = []
        for v in items:
            if v.startswith("{"):
                values.append(_json_or_str(v))
            else:
                kind, params = _parse_item(v, where)
                values.append({"kind": kind, "params": params})
    return Axis(target, values)


def check_axes(axes: list[Axis], pipe_dict: dict, solver_branches: dict, base_dir) -> None:
    """Validate every axis against the base pipeline (a ``Pipeline.to_dict()``) before anything
    runs. ``solver_branches`` maps the comparison's solver branch names to their kinds: solver
    parameters are swept on those. Errors name the axis: ``axes[i] TARGET``."""
    from ..pipeline import NODE_TYPES, _parse_run

    if len(axes) > MAX_AXES:
        raise ParamError(f"at most {MAX_AXES} axes; got {len(axes)}", "axes")
    seen = set()
    for i, ax in enumerate(axes):
        where = f"axis {ax.target}"
        if ax.target in seen:
            raise ParamError("appears twice; give each axis once", where)
        seen.add(ax.target)
        if not ax.values:
            raise ParamError("give at least one value", where)
        labels = [str(x) for x in ax.labels]
        if len(set(labels)) != len(labels):
            raise ParamError(f"value {sorted(x for x in labels if labels.count(x) > 1)[0]!r} "
                             "appears twice", where)
        nodes = pipe_dict["nodes"]
        if ax.kind == "run":
            key = ax.target.split(".", 1)[1]
            if key not in RUN_KEYS:
                raise ParamError(f"unknown run setting {key!r}; sweepable: "
                                 f"{', '.join('run.' + k for k in RUN_KEYS)}", where)
            for j, v in enumerate(ax.values):
                run = dict(pipe_dict.get("run") or {})
                run[key] = v
                try:
                    _parse_run(run, f"{where}[{j}]")
                except StudioError as exc:
                    raise ParamError(exc.problem, f"{where} = {value_label(v)}") from None
                if key == "labels":
                    _check_labels(v, axes, pipe_dict, f"{where} = {value_label(v)}")
            base_labels = (pipe_dict.get("run") or {}).get("labels")
            if key == "batch" and isinstance(base_labels, list) and \
                    not any(a.target == "run.labels" for a in axes):
                bad = [b for b in ax.values if b != len(base_labels)]
                if bad:
                    raise ParamError(f"the pipeline gives {len(base_labels)} per-sample labels; "
                                     f"a batch of {bad[0]} needs its own (add a run.labels axis "
                                     "or use one class index)", where)
            continue
        nid, _, pname = ax.target.partition(".")
        if nid in solver_branches:
            ntype, kind = "solver", solver_branches[nid]
        elif nid in nodes:
            ntype, kind = nodes[nid]["type"], nodes[nid]["kind"]
            if ntype == "solver":
                raise ParamError(f"solver node {nid!r} is not one of the comparison's solvers "
                                 f"({', '.join(solver_branches)})", where)
        else:
            valid = sorted(set(nodes) - {n for n, d in nodes.items() if d["type"] == "solver"}
                           | set(solver_branches))
            raise ParamError(f"unknown node {nid!r}; nodes: {', '.join(valid)}", where)
        if ax.kind == "node":
            if ntype == "solver":
                raise ParamError("solvers are compared with --solvers, not swapped on an axis", where)
            for j, v in enumerate(ax.values):
                vw = f"{where} = {value_label(v) if isinstance(v, dict) else repr(v)}"
                if not isinstance(v, dict) or not isinstance(v.get("kind"), str) \
                        or not isinstance(v.get("params", {}), dict):
                    raise ParamError("a swapped node is {\"kind\": ..., \"params\": {...}}", vw)
                cls = NODE_TYPES[ntype].get(v["kind"], vw)
                _check_params(cls, v.get("params") or {}, vw)
            continue
        if ntype == "solver":
            if pname in _BUDGET:
                raise ParamError(f"{pname!r} is set per cell by the comparison (--nfe, --schedules)",
                                 where)
            from ..pipeline import build_solver
            for v in ax.values:
                vw = f"{where} = {value_label(v)}"
                try:
                    build_solver(kind, {pname: v}, vw)
                except StudioError as exc:
                    raise ParamError(exc.problem, vw) from None
            continue
        cls = NODE_TYPES[ntype].get(kind, where)
        specs = {s.name: s for s in param_specs(cls)}
        if pname not in specs:
            raise ParamError(f"{kind} ({nid}) has no parameter {pname!r}; valid: "
                             f"{', '.join(specs) or 'none'}", where)
        for v in ax.values:
            check_value(specs[pname], v, f"{where} = {value_label(v)}")


def _check_labels(v: Any, axes: list[Axis], pipe_dict: dict, where: str) -> None:
    """Labels: null, one class index, or one per sample (as many as every swept batch size)."""
    ok_int = lambda x: isinstance(x, int) and not isinstance(x, bool) and x >= 0  # noqa: E731
    if v is None or ok_int(v):
        return
    if not (isinstance(v, list) and v and all(ok_int(x) for x in v)):
        raise ParamError("labels are null, a class index or a list of class indices", where)
    batches = next((a.values for a in axes if a.target == "run.batch"),
                   [(pipe_dict.get("run") or {}).get("batch", 500)])
    bad = [b for b in batches if b != len(v)]
    if bad:
        raise ParamError(f"{len(v)} labels for a batch of {bad[0]}; give one label or one per "
                         "sample", where)


def _check_params(cls, params: dict, where: str) -> None:
    specs = {s.name: s for s in param_specs(cls)}
    for k, v in params.items():
        if k not in specs:
            raise ParamError(f"unknown parameter {k!r}; valid: {', '.join(specs) or 'none'}", where)
        check_value(specs[k], v, f"{where}.{k}")
    missing = [s.name for s in specs.values() if s.required and s.name not in params]
    if missing:
        raise ParamError(f"missing required parameter {missing[0]!r}", where)


def apply_point(pipe_dict: dict, axes: list[Axis], point: tuple) -> dict:
    """The pipeline dict of one point of the axes' product (``point``: one value index per axis).
    Solver-parameter axes are not applied here (see :func:`solver_overrides`)."""
    d = copy.deepcopy(pipe_dict)
    for ax, j in zip(axes, point):
        v = copy.deepcopy(ax.values[j])
        if ax.kind == "run":
            d.setdefault("run", {})[ax.target.split(".", 1)[1]] = v
        elif ax.kind == "node":
            nid = ax.target
            if nid in d["nodes"]:
                d["nodes"][nid] = {"type": d["nodes"][nid]["type"], "kind": v["kind"],
                                   "params": dict(v.get("params") or {})}
        else:
            nid, pname = ax.target.split(".", 1)
            if nid in d["nodes"] and d["nodes"][nid]["type"] != "solver":
                d["nodes"][nid]["params"][pname] = v
    return d


def solver_overrides(axes: list[Axis], point: tuple, branch: str) -> dict:
    """Solver params this point sets on the solver of ``branch``."""
    return {ax.target.split(".", 1)[1]: copy.deepcopy(ax.values[j]) for ax, j in zip(axes, point)
            if ax.kind == "param" and ax.target.split(".", 1)[0] == branch}


def point_label(axes: list[Axis], point: tuple) -> str:
    return ", ".join(f"{ax.target}={ax.labels[j]}" for ax, j in zip(axes, point))


__all__ = ["Axis", "MAX_AXES", "parse_axis", "split_values", "check_axes", "apply_point",
           "solver_overrides", "point_label", "value_label"]

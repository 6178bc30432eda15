"""What a comparison runs: a pipeline (model, process, guidance, run settings), solvers, schedules,
NFE budgets, up to three sweep axes (:mod:`.axes`), metrics and a reference. Plain data that
round-trips through JSON.

A row may name a network of its own (``SolverEntry.network``, on the command line
``flow-map@assets:moons-flow-map.safetensors``): its cells run the pipeline with that network node
in place of the pipeline's, from the same noise, so a flow-map model races its teacher at equal
NFE (the flow-map solver's jumps beside the teacher's ODE solvers) and a distilled or fine-tuned
model races its original. The reference (the exact ODE endpoint, where a metric needs one) stays
the pipeline's own network's: a row with another network is measured against its teacher.

The grid has one row per (axis point, solver, schedule) and one column per NFE budget; without
axes, one row per (solver, schedule). Every cell of a point starts from the same prior noise (the
point's seed and batch), and a cell is exactly the run of the single-solver pipeline
:meth:`CompareSpec.cell_pipeline` returns, so ``studio run`` on that file reproduces a cell's
samples bit for bit.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import ParamError, PipelineError
from ..params import param_specs
from ..pipeline import Pipeline
from ..registry import SCHEDULES, SOLVERS
from .axes import Axis, apply_point, check_axes, point_label, solver_overrides

#: solver params a comparison sets per cell (never taken from the row's own params)
BUDGET_KEYS = ("steps", "nfe", "schedule")


@dataclass
class ScheduleEntry:
    """A schedule with its parameters, e.g. ``karras`` with ``{"rho": 5}``."""

    id: str
    params: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        if not self.label:
            self.label = _label(self.id, self.params)

    def to_dict(self) -> dict:
        return {"id": self.id, "params": copy.deepcopy(self.params), "label": self.label}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "ScheduleEntry":
        if isinstance(d, str):
            return parse_schedule(d, where)
        if not isinstance(d, dict) or not isinstance(d.get("id"), str):
            raise ParamError("a schedule is an id or {\"id\": ..., \"params\": {...}}", where)
        SCHEDULES.get(d["id"], f"{where}.id")
        return cls(d["id"], dict(d.get("params") or {}), d.get("label", ""))


@dataclass
class SolverEntry:
    """One solver configuration: a row group of the grid.

    ``branch`` names the stream of a stochastic solver's noise (as a pipeline's solver node id
    does), ``guidance`` the pipeline's guidance node it samples through (None: the raw network),
    ``schedule`` its own schedule (used where the comparison lists none), ``network`` a network
    node ``{"kind", "params"}`` this row runs in place of the pipeline's (None: the pipeline's)."""

    kind: str
    params: dict = field(default_factory=dict)
    label: str = ""
    branch: str = ""
    guidance: Optional[str] = None
    schedule: Optional[ScheduleEntry] = None
    network: Optional[dict] = None

    def __post_init__(self):
        if self.network is not None:
            self.network = check_row_network(self.network, f"solvers[{self.label or self.kind}]"
                                                           ".network")
        if not self.label:
            self.label = _label(self.kind, self.params)
            if self.network is not None:
                self.label += f" @ {network_label(self.network)}"
        if not self.branch:
            self.branch = self.label

    def to_dict(self) -> dict:
        return {"kind": self.kind, "params": copy.deepcopy(self.params), "label": self.label,
                "branch": self.branch, "guidance": self.guidance,
                "schedule": self.schedule.to_dict() if self.schedule else None,
                "network": copy.deepcopy(self.network)}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "SolverEntry":
        if isinstance(d, str):
            return parse_solver(d, where)
        if not isinstance(d, dict) or not isinstance(d.get("kind"), str):
            raise ParamError("a solver is an id or {\"kind\": ..., \"params\": {...}}", where)
        SOLVERS.get(d["kind"], f"{where}.kind")
        sched = d.get("schedule")
        net = d.get("network")
        return cls(d["kind"], dict(d.get("params") or {}), d.get("label", ""), d.get("branch", ""),
                   d.get("guidance"),
                   ScheduleEntry.from_dict(sched, f"{where}.schedule") if sched else None,
                   check_row_network(net, f"{where}.network") if net is not None else None)

    def text(self) -> str:
        """The row as ``studio compare --solvers`` writes it (``kind:k=v@network``)."""
        out = self.kind + "".join(f":{k}={_fmt(v)}" for k, v in self.params.items())
        if self.network is not None:
            out += "@" + network_text(self.network)
        return out


def check_row_network(net, where: str) -> dict:
    """A row's network node ``{"kind", "params"}``, checked against the network registry."""
    from ..registry import NETWORKS
    from .axes import _check_params
    if not isinstance(net, dict) or not isinstance(net.get("kind"), str) \
            or not isinstance(net.get("params", {}), dict):
        raise ParamError('a row\'s network is {"kind": ..., "params": {...}}', where)
    cls = NETWORKS.get(net["kind"], f"{where}.kind")
    params = dict(net.get("params") or {})
    _check_params(cls, params, where)
    return {"kind": net["kind"], "params": params}


def network_label(net: dict) -> str:
    """A short name for a row's network: a model file's name, else ``kind(params)``."""
    path = (net.get("params") or {}).get("path")
    if net["kind"] == "file" and isinstance(path, str):
        name = os.path.basename(path.split("assets:", 1)[-1])
        return name[:-len(".safetensors")] if name.endswith(".safetensors") else name
    return _label(net["kind"], net.get("params") or {})


def network_text(net: dict) -> str:
    """A row's network as the command line writes it: a model file's path, else ``kind:k=v``."""
    params = net.get("params") or {}
    if net["kind"] == "file" and set(params) == {"path"}:
        return params["path"]
    return net["kind"] + "".join(f":{k}={_fmt(v)}" for k, v in params.items())


def parse_network(text: str, where: str) -> dict:
    """``assets:NAME.safetensors`` / ``path/to/model.safetensors`` (a ``file`` network) or
    ``kind[:key=value...]`` (an analytic network, e.g. ``gaussian``) -> a network node."""
    text = text.strip()
    if not text:
        raise ParamError("name the row's network after '@' (a model file or kind:key=value)", where)
    if text.startswith("assets:") or text.lower().endswith(".safetensors"):
        return check_row_network({"kind": "file", "params": {"path": text}}, where)
    kind, params = _parse_item(text, where)
    return check_row_network({"kind": kind, "params": params}, where)


def _label(name: str, params: dict) -> str:
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={_fmt(v)}' for k, v in params.items())})"


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else json.dumps(v) if not isinstance(v, str) else v


_ITEM = re.compile(r"^\s*([A-Za-z0-9_.+\-]+)\s*(?::(.*))?$")


def _parse_item(text: str, where: str) -> tuple[str, dict]:
    """``id`` or ``id:key=value:key=value`` (values read as JSON where they parse, else strings)."""
    m = _ITEM.match(text)
    if not m:
        raise ParamError(f"cannot read {text!r}; write id or id:key=value:key=value", where)
    params = {}
    if m.group(2):
        for part in m.group(2).split(":"):
            if "=" not in part:
                raise ParamError(f"{part!r} in {text!r} is not key=value", where)
            k, v = part.split("=", 1)
            try:
                params[k.strip()] = json.loads(v)
            except json.JSONDecodeError:
                params[k.strip()] = v.strip()
    return m.group(1), params


def parse_solver(text: str, where: str = "--solvers") -> SolverEntry:
    """``heun`` or ``ddim:eta=1`` -> a :class:`SolverEntry` (validated against the registry);
    ``SOLVER@NETWORK`` gives the row a network of its own (:func:`parse_network`), e.g.
    ``flow-map@assets:moons-flow-map.safetensors``."""
    network = None
    if "@" in text:
        text, net_text = text.split("@", 1)
        network = parse_network(net_text, where)
    kind, params = _parse_item(text, where)
    cls = SOLVERS.get(kind, where)
    own = {s.name for s in param_specs(cls)}
    for k in params:
        if k in BUDGET_KEYS:
            raise ParamError(f"{k!r} is set per cell by the comparison (--nfe, --schedules)", where)
        if k not in own:
            raise ParamError(f"unknown parameter {k!r} of {kind}; valid: "
                             f"{', '.join(sorted(own - set(BUDGET_KEYS) - {'schedule_params'}))}",
                             where)
    return SolverEntry(kind, params, network=network)


def row_guidance(entry: SolverEntry, guidance: Optional[str]) -> Optional[str]:
    """The guidance a row parsed from text samples through: the pipeline's first branch's, except
    for a solver that jumps with a flow map (guidance applies to denoisers only)."""
    return None if getattr(SOLVERS.get(entry.kind), "jumps", False) else guidance


def parse_schedule(text: str, where: str = "--schedules") -> ScheduleEntry:
    """``karras`` or ``karras:rho=5`` -> a :class:`ScheduleEntry`."""
    sid, params = _parse_item(text, where)
    cls = SCHEDULES.get(sid, where)
    own = {s.name for s in param_specs(cls)}
    for k in params:
        if k not in own:
            raise ParamError(f"unknown parameter {k!r} of schedule {sid}; valid: "
                             f"{', '.join(sorted(own)) or 'none'}", where)
    return ScheduleEntry(sid, params)


def parse_list(text: str) -> list[str]:
    """Split a comma-separated CLI list (empty items dropped)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_nfes(text: str | list, where: str = "--nfe") -> list[int]:
    items = parse_list(text) if isinstance(text, str) else list(text)
    out = []
    for v in items:
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise ParamError(f"NFE budgets are positive integers, got {v!r}", where) from None
        if n < 1 or (isinstance(v, float) and not float(v).is_integer()):
            raise ParamError(f"NFE budgets are positive integers, got {v!r}", where)
        if n not in out:
            out.append(n)
    if not out:
        raise ParamError("give at least one NFE budget", where)
    return sorted(out)


def entries_from_pipeline(pipe: Pipeline) -> list[SolverEntry]:
    """One entry per solver node of the pipeline: its kind and non-budget params, its schedule,
    its branch name (the node id) and its guidance."""
    out = []
    for b in pipe.branches():
        node = pipe.nodes[b.solver]
        cls = SOLVERS.get(node.kind)
        own = {s.name for s in param_specs(cls)}
        params = {k: v for k, v in node.params.items() if k in own and k not in BUDGET_KEYS}
        sched_id = node.params.get("schedule",
                                   next(s.default for s in param_specs(cls) if s.name == "schedule"))
        sched_names = {s.name for s in param_specs(SCHEDULES.get(sched_id))}
        sched = ScheduleEntry(sched_id, {k: v for k, v in node.params.items()
                                         if k in sched_names and k not in own})
        out.append(SolverEntry(node.kind, params, label=b.solver if b.solver != node.kind
                               else node.kind, branch=b.solver, guidance=b.guidance,
                               schedule=sched))
    return out


@dataclass(frozen=True)
class Cell:
    """One cell of the grid."""

    index: int
    row: int
    col: int
    solver: SolverEntry
    schedule: Optional[ScheduleEntry]
    nfe: int
    #: one value index per sweep axis (empty without axes), its label, and the solver params
    #: the point sets on this cell's solver
    point: tuple = ()
    point_text: str = ""
    solver_extra: dict = field(default_factory=dict)

    @property
    def row_label(self) -> str:
        base = row_label(self.solver, self.schedule)
        return f"{self.point_text} | {base}" if self.point_text else base

    @property
    def key(self) -> str:
        return f"{self.row_label} @ {self.nfe}"

    def solver_params(self) -> dict:
        """The params of the solver node that runs this cell."""
        p = dict(self.solver.params)
        p.update(self.solver_extra)
        sched = self.schedule or self.solver.schedule
        if sched is not None:
            p["schedule"] = sched.id
            p.update(sched.params)
        p["nfe"] = self.nfe
        return p


def row_label(solver: SolverEntry, schedule: Optional[ScheduleEntry]) -> str:
    sched = schedule or solver.schedule
    if sched is None:
        default = next(s.default for s in param_specs(SOLVERS.get(solver.kind)) if s.name == "schedule")
        return f"{solver.label} / {default}"
    return f"{solver.label} / {sched.label}"


@dataclass
class CompareSpec:
    """Everything a comparison needs; :meth:`to_dict` / :meth:`from_dict` round-trip it."""

    pipeline: Pipeline
    solvers: list[SolverEntry]
    nfes: list[int]
    #: schedules crossing every solver; empty: each solver's own schedule
    schedules: list[ScheduleEntry] = field(default_factory=list)
    #: metric ids or {"id", "params"} dicts; None: every default metric that applies
    metrics: Optional[list] = None
    reference: Any = "auto"
    #: data samples for distribution metrics: a .npy path (relative to the pipeline's folder) or
    #: None (drawn from an analytic network, if it can sample)
    data: Optional[str] = None
    #: data samples drawn from an analytic network (and the size cap of a data file's subset)
    n_data: int = 4096
    #: keep every cell's trajectory (memory: steps x batch x dim per cell)
    record: bool = False
    #: sweep axes crossing the (solver, schedule) rows (at most three; see :mod:`.axes`)
    axes: list[Axis] = field(default_factory=list)

    def __post_init__(self):
        if not self.solvers:
            raise ParamError("give at least one solver", "solvers")
        if not self.nfes:
            raise ParamError("give at least one NFE budget", "nfe")
        if self.n_data < 2:
            raise ParamError("n_data must be at least 2", "n_data")
        labels = [row_label(s, sc) for s in self.solvers for sc in (self.schedules or [None])]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ParamError(f"row {sorted(dup)[0]!r} appears twice; give the solvers different "
                             "params or labels", "solvers")
        branches = [s.branch for s in self.solvers]
        for s in self.solvers:
            if s.guidance is not None and s.guidance not in self.pipeline.nodes:
                raise PipelineError(f"guidance node {s.guidance!r} is not in the pipeline",
                                    f"solvers[{s.label}].guidance")
        if len(set(branches)) != len(branches):
            raise ParamError("two solvers share a branch name", "solvers")
        self.axes = [a if isinstance(a, Axis) else Axis.from_dict(a, f"axes[{i}]")
                     for i, a in enumerate(self.axes)]
        if self.axes:
            check_axes(self.axes, self.pipeline.to_dict(), {s.branch: s.kind for s in self.solvers},
                       self.pipeline.base_dir)

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, nfes: list[int], solvers: list | None = None,
                      schedules: list | None = None, **kw) -> "CompareSpec":
        """Solvers from ids / ``id:k=v`` strings / entries, or (None) the pipeline's own solver
        nodes. Entries from strings sample through the guidance of the pipeline's first branch."""
        if solvers is None:
            entries = entries_from_pipeline(pipeline)
        else:
            guidance = pipeline.branches()[0].guidance
            entries = []
            for i, s in enumerate(solvers):
                e = s if isinstance(s, SolverEntry) else SolverEntry.from_dict(s, f"solvers[{i}]")
                if isinstance(s, str):
                    e.guidance = row_guidance(e, guidance)
                entries.append(e)
        scheds = [s if isinstance(s, ScheduleEntry) else ScheduleEntry.from_dict(s, f"schedules[{i}]")
                  for i, s in enumerate(schedules or [])]
        return cls(pipeline, entries, parse_nfes(list(nfes)), scheds, **kw)

    # -- the grid -----------------------------------------------------------------------------------
    def points(self) -> list[tuple]:
        """The axes' product, one value index per axis (``[()]`` without axes)."""
        return list(itertools.product(*(range(len(a.values)) for a in self.axes)))

    def point_pipeline(self, point: tuple) -> Pipeline:
        """The base pipeline with a point's node params, swapped nodes and run settings."""
        if not self.axes:
            return self.pipeline
        return Pipeline.from_dict(apply_point(self.pipeline.to_dict(), self.axes, point),
                                  self.pipeline.base_dir,
                                  f"{self.pipeline.source or 'pipeline'} [{point_label(self.axes, point)}]")

    def row_pipeline_dict(self, point: tuple, solver: SolverEntry) -> dict:
        """The pipeline dict of one point, with the row's own network (if any) in place of the
        pipeline's network node."""
        d = (apply_point(self.pipeline.to_dict(), self.axes, point) if self.axes
             else self.pipeline.to_dict())
        if solver.network is not None:
            nid = next(n for n, node in d["nodes"].items() if node["type"] == "network")
            d["nodes"][nid] = {"type": "network", "kind": solver.network["kind"],
                               "params": copy.deepcopy(solver.network["params"])}
        return d

    def row_pipeline(self, point: tuple, solver: SolverEntry) -> Pipeline:
        """:meth:`point_pipeline` with the row's own network, if it names one."""
        if solver.network is None:
            return self.point_pipeline(point)
        return Pipeline.from_dict(self.row_pipeline_dict(point, solver), self.pipeline.base_dir,
                                  f"{self.pipeline.source or 'pipeline'} [{solver.label}]")

    def rows(self) -> list[tuple[SolverEntry, Optional[ScheduleEntry]]]:
        """The (solver, schedule) rows of one point (the grid repeats them for every point)."""
        return [(s, sc) for s in self.solvers for sc in (self.schedules or [None])]

    def row_labels(self) -> list[str]:
        cells, n = self.cells(), len(self.nfes)
        return [cells[r * n].row_label for r in range(len(cells) // n)]

    def cells(self) -> list[Cell]:
        out = []
        rows = self.rows()
        for p, point in enumerate(self.points()):
            text = point_label(self.axes, point)
            for r, (s, sc) in enumerate(rows):
                extra = solver_overrides(self.axes, point, s.branch)
                for c, n in enumerate(self.nfes):
                    out.append(Cell(len(out), p * len(rows) + r, c, s, sc, n, point, text, extra))
        return out

    def cell_pipeline(self, cell: Cell) -> Pipeline:
        """The single-solver pipeline whose run is this cell (same noise, same branch seed)."""
        d = self.row_pipeline_dict(cell.point, cell.solver)
        solver_ids = [nid for nid, n in d["nodes"].items() if n["type"] == "solver"]
        for nid in solver_ids:
            del d["nodes"][nid]
        d["links"] = [lk for lk in d["links"] if lk[0] not in solver_ids and lk[1] not in solver_ids]
        sid = cell.solver.branch
        if sid in d["nodes"]:
            raise PipelineError(f"branch name {sid!r} clashes with a node id", "solvers")
        d["nodes"][sid] = {"type": "solver", "kind": cell.solver.kind,
                           "params": cell.solver_params()}
        src = cell.solver.guidance or self.pipeline.of_type("network")[0]
        d["links"].append([src, sid])
        return Pipeline.from_dict(d, self.pipeline.base_dir,
                                  f"{self.pipeline.source or 'pipeline'} [{cell.key}]")

    # -- JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        from .metrics import metric_entry, resolve_metrics
        from .reference import build_reference, reference_entry

        return {"pipeline": self.pipeline.to_dict(),
                "pipeline_dir": self.pipeline.base_dir,
                "pipeline_source": self.pipeline.source,
                "solvers": [s.to_dict() for s in self.solvers],
                "schedules": [s.to_dict() for s in self.schedules],
                "nfe": list(self.nfes),
                "metrics": None if self.metrics is None else
                [metric_entry(m) for m in resolve_metrics(self.metrics)],
                "reference": reference_entry(build_reference(self.reference)),
                "data": self.data, "n_data": self.n_data, "record": self.record,
                **({"axes": [a.to_dict() for a in self.axes]} if self.axes else {})}

    @classmethod
    def from_dict(cls, d: dict, where: str = "comparison") -> "CompareSpec":
        if not isinstance(d, dict):
            raise ParamError("expected an object", where)
        for key in ("pipeline", "solvers", "nfe"):
            if key not in d:
                raise ParamError(f"missing {key!r}", where)
        base = d.get("pipeline_dir")
        if base is not None and not os.path.isdir(base):
            base = None
        pipe = Pipeline.from_dict(d["pipeline"], base, d.get("pipeline_source") or f"{where}: pipeline")
        solvers = [SolverEntry.from_dict(s, f"{where}: solvers[{i}]")
                   for i, s in enumerate(d["solvers"])]
        scheds = [ScheduleEntry.from_dict(s, f"{where}: schedules[{i}]")
                  for i, s in enumerate(d.get("schedules") or [])]
        return cls(pipe, solvers, parse_nfes(list(d["nfe"]), f"{where}: nfe"), scheds,
                   metrics=d.get("metrics"), reference=d.get("reference", "auto"),
                   data=d.get("data"), n_data=int(d.get("n_data", 4096)),
                   record=bool(d.get("record", False)),
                   axes=[Axis.from_dict(a, f"{where}: axes[{i}]")
                         for i, a in enumerate(d.get("axes") or [])])


__all__ = ["CompareSpec", "SolverEntry", "ScheduleEntry", "Cell", "parse_solver", "parse_schedule",
           "parse_nfes", "parse_list", "entries_from_pipeline", "row_label", "parse_network",
           "row_guidance", "check_row_network", "network_label"]

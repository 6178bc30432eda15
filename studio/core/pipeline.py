"""Pipeline files (format ``studio.pipeline/1``): parse, validate, build and run.

A pipeline is data: typed nodes (process, network, guidance, solver) with parameters by name, links
between them, and run settings. Unknown top-level keys (the editor's ``"ui"``) are kept on a round
trip. Every error names the file, the node and the field.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import torch
from torch import Tensor

from .atomic import write_atomic
from .errors import ParamError, PipelineError, StudioError
from .guidance.base import Guidance
from .model import Denoiser
from .networks.base import Network
from .params import build, param_specs
from .processes.base import Process
from .registry import GUIDANCE, NETWORKS, PROCESSES, SCHEDULES, SOLVERS
from .runner import CancelToken, RunResult, SamplingRun, StepEvent
from .start import parse_start
from .solvers.base import Solver
from .untrusted import check_json, loads_json, read_regular

FORMAT = "studio.pipeline/1"
NODE_TYPES = {"process": PROCESSES, "network": NETWORKS, "guidance": GUIDANCE, "solver": SOLVERS}
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}
#: half precisions: the network computes in them, the solver state stays float32
HALF = ("float16", "bfloat16")
#: which node type may link to which (from -> allowed targets); the editor checks links with it
LINKS = {"process": ("network",), "network": ("guidance", "solver"), "guidance": ("solver",),
         "solver": ()}


@dataclass
class Node:
    id: str
    type: str
    kind: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"type": self.type, "kind": self.kind, "params": copy.deepcopy(self.params)}


@dataclass
class RunSettings:
    batch: int = 500
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    labels: Any = None
    #: where runs start (studio.core.start; None: from the prior)
    start: Any = None
    #: largest batch one network call gets (micro-batching); None: the whole batch
    max_batch: Optional[int] = None

    def torch_dtype(self) -> torch.dtype:
        """The dtype of the solver state (float32 when the network runs in half precision)."""
        return torch.float32 if self.dtype in HALF else DTYPES[self.dtype]


@dataclass
class Branch:
    """One solver with the guidance node (if any) between it and the network."""

    solver: str
    guidance: Optional[str] = None


@dataclass
class Pipeline:
    nodes: dict[str, Node]
    links: list[tuple[str, str]]
    run: RunSettings = field(default_factory=RunSettings)
    extra: dict = field(default_factory=dict)
    base_dir: Optional[str] = None
    source: Optional[str] = None

    # -- parsing ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, base_dir: str | None = None, source: str | None = None,
                  strict: bool = True) -> "Pipeline":
        """Parse and validate; ``strict=False`` skips the graph-completeness check (drafts in the
        editor may lack a solver), every other check still applies."""
        where = source or "pipeline"
        if not isinstance(data, dict):
            raise PipelineError("a pipeline must be a JSON object", where)
        check_json(data, where, PipelineError)
        fmt = data.get("format")
        if fmt != FORMAT:
            raise PipelineError(f"format must be {FORMAT!r}, got {fmt!r}", f"{where}: format")
        raw_nodes = data.get("nodes")
        if not isinstance(raw_nodes, dict) or not raw_nodes:
            raise PipelineError("'nodes' must be a non-empty object of id -> node", f"{where}: nodes")
        nodes = {}
        for nid, nd in raw_nodes.items():
            nw = f"{where}: node {nid!r}"
            if not isinstance(nd, dict):
                raise PipelineError("a node must be an object with type, kind and params", nw)
            unknown = set(nd) - {"type", "kind", "params"}
            if unknown:
                raise PipelineError(f"unknown key {sorted(unknown)[0]!r}; valid: type, kind, params", nw)
            ntype = nd.get("type")
            if not isinstance(ntype, str) or ntype not in NODE_TYPES:
                raise PipelineError(f"type must be one of: {', '.join(NODE_TYPES)}; got {ntype!r}",
                                    f"{nw}.type")
            kind = nd.get("kind")
            if not isinstance(kind, str):
                raise PipelineError("kind must be a string", f"{nw}.kind")
            NODE_TYPES[ntype].get(kind, f"{nw}.kind")
            params = nd.get("params", {})
            if not isinstance(params, dict):
                raise PipelineError("params must be an object", f"{nw}.params")
            nodes[nid] = Node(nid, ntype, kind, copy.deepcopy(params))
        raw_links = data.get("links", [])
        if not isinstance(raw_links, list):
            raise PipelineError("'links' must be a list of [from, to] pairs", f"{where}: links")
        links = []
        for i, link in enumerate(raw_links):
            lw = f"{where}: links[{i}]"
            if not (isinstance(link, (list, tuple)) and len(link) == 2
                    and all(isinstance(v, str) for v in link)):
                raise PipelineError("a link must be a pair [from, to] of node ids", lw)
            for end in link:
                if end not in nodes:
                    raise PipelineError(f"unknown node {end!r}; nodes: {', '.join(nodes)}", lw)
            links.append((link[0], link[1]))
        run = _parse_run(data.get("run", {}), f"{where}: run")
        extra = {k: copy.deepcopy(v) for k, v in data.items()
                 if k not in ("format", "nodes", "links", "run")}
        pipe = cls(nodes, links, run, extra, base_dir, source)
        if strict:
            pipe.branches()  # validates the graph
        else:
            pipe.check_links()
        return pipe

    @classmethod
    def from_json(cls, text: str, base_dir: str | None = None, source: str | None = None,
                  strict: bool = True) -> "Pipeline":
        data = loads_json(text, source or "pipeline", PipelineError)  # limits: studio.core.untrusted
        return cls.from_dict(data, base_dir, source, strict)

    @classmethod
    def load(cls, path: str, strict: bool = True) -> "Pipeline":
        try:
            text = read_regular(path, path, PipelineError).decode("utf-8")
        except UnicodeDecodeError:
            raise PipelineError("not a UTF-8 text file", path) from None
        return cls.from_json(text, os.path.dirname(os.path.abspath(path)), path, strict)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"format": FORMAT,
                               "nodes": {nid: n.to_dict() for nid, n in self.nodes.items()},
                               "links": [list(link) for link in self.links],
                               "run": {k: v for k, v in dataclasses.asdict(self.run).items()
                                       if not (k in ("labels", "start", "max_batch")
                                               and v is None)}}
        out.update(copy.deepcopy(self.extra))
        return out

    def save(self, path: str) -> None:
        """Write atomically (temporary file, then rename)."""
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    # -- the graph -------------------------------------------------------------------------------
    def _where(self, nid: str | None = None) -> str:
        base = self.source or "pipeline"
        return f"{base}: node {nid!r}" if nid else base

    def of_type(self, ntype: str) -> list[str]:
        return [nid for nid, n in self.nodes.items() if n.type == ntype]

    def check_links(self) -> dict[str, list[str]]:
        """Check that links are acyclic and join compatible node types; return the inputs of
        every node."""
        _check_acyclic(self.nodes, self.links, self._where())
        incoming: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        for a, b in self.links:
            allowed = LINKS[self.nodes[a].type]
            if self.nodes[b].type not in allowed:
                raise PipelineError(
                    f"cannot link {self.nodes[a].type} {a!r} to {self.nodes[b].type} {b!r}"
                    + (f"; a {self.nodes[a].type} links to: {', '.join(allowed)}" if allowed
                       else "; a solver has no outputs"), self._where(b))
            incoming[b].append(a)
        return incoming

    def branches(self) -> list[Branch]:
        """Validate the graph and return one branch per solver node."""
        incoming = self.check_links()
        procs, nets = self.of_type("process"), self.of_type("network")
        if len(procs) != 1:
            raise PipelineError(f"need exactly one process node, found {len(procs)}", self._where())
        if len(nets) != 1:
            raise PipelineError(f"need exactly one network node, found {len(nets)}", self._where())
        net = nets[0]
        if incoming[net] != procs:
            raise PipelineError(f"link the process {procs[0]!r} to this network", self._where(net))
        branches = []
        for nid, node in self.nodes.items():
            if node.type == "guidance":
                if incoming[nid] != [net]:
                    raise PipelineError(f"a guidance node needs one input, from network {net!r}",
                                        self._where(nid))
            if node.type != "solver":
                continue
            src = incoming[nid]
            if len(src) != 1:
                raise PipelineError(f"a solver needs exactly one input (network or guidance), "
                                    f"found {len(src)}", self._where(nid))
            g = src[0] if self.nodes[src[0]].type == "guidance" else None
            branches.append(Branch(nid, g))
        if not branches:
            raise PipelineError("no solver node: add one and link the network to it", self._where())
        return branches

    # -- building --------------------------------------------------------------------------------
    def build(self) -> "Built":
        branches = self.branches()
        (pid,), (nid,) = self.of_type("process"), self.of_type("network")
        process = build_plugin(self.nodes[pid], self._where(pid))
        network = build_plugin(self.nodes[nid], self._where(nid), self.base_dir)
        guidance = {g: build_plugin(self.nodes[g], self._where(g), self.base_dir)
                    for g in self.of_type("guidance")}
        for gid, g in guidance.items():
            bind = getattr(g, "bind", None)
            if bind is not None:
                try:
                    bind(network, process)
                except StudioError as exc:
                    where = f"{self._where(gid)}.params" + (f".{exc.where}" if exc.where else "")
                    raise type(exc)(exc.problem, where) from None
        solvers = {b.solver: build_solver(self.nodes[b.solver].kind, self.nodes[b.solver].params,
                                          self._where(b.solver)) for b in branches}
        return Built(self, process, network, guidance, solvers, branches)


def _parse_run(raw: Any, where: str) -> RunSettings:
    if not isinstance(raw, dict):
        raise PipelineError("'run' must be an object", where)
    fields = {f.name for f in dataclasses.fields(RunSettings)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise PipelineError(f"unknown run setting {unknown[0]!r}; valid: {', '.join(sorted(fields))}",
                            where)
    run = RunSettings(**raw)
    if not isinstance(run.batch, int) or isinstance(run.batch, bool) or run.batch < 1:
        raise PipelineError(f"batch must be a positive integer, got {run.batch!r}", f"{where}.batch")
    if not isinstance(run.seed, int) or isinstance(run.seed, bool):
        raise PipelineError(f"seed must be an integer, got {run.seed!r}", f"{where}.seed")
    if not -2 ** 63 <= run.seed < 2 ** 63:
        raise PipelineError("seed must fit in 64 bits (-2**63 <= seed < 2**63)", f"{where}.seed")
    if not isinstance(run.dtype, str) or run.dtype not in DTYPES:
        raise PipelineError(f"dtype must be one of: {', '.join(DTYPES)}; got {run.dtype!r}",
                            f"{where}.dtype")
    if run.max_batch is not None and (not isinstance(run.max_batch, int)
                                      or isinstance(run.max_batch, bool) or run.max_batch < 1):
        raise PipelineError(f"max_batch must be a positive integer or null, got {run.max_batch!r}",
                            f"{where}.max_batch")
    if not isinstance(run.device, str):
        raise PipelineError("device must be a string such as 'cpu' or 'cuda'", f"{where}.device")
    parse_start(run.start, f"{where}.start")
    return run


def _check_acyclic(nodes: dict, links: list, where: str) -> None:
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in links:
        graph[a].append(b)
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1:
                cycle = path[path.index(m):] + [m] if m in path else [n, m]
                raise PipelineError(f"links form a cycle: {' -> '.join(cycle)}", where)
            if m not in state:
                visit(m, path + [m])
        state[n] = 2

    for n in nodes:
        if n not in state:
            visit(n, [n])


def build_plugin(node: Node, where: str, base_dir: str | None = None):
    cls = NODE_TYPES[node.type].get(node.kind, f"{where}.kind")
    extra = {}
    if "_base_dir" in {f.name for f in dataclasses.fields(cls)}:
        extra["_base_dir"] = base_dir or ""
    return build(cls, node.params, f"{where}.params", extra)


def build_solver(kind: str, params: dict, where: str) -> Solver:
    """A solver from its params: its own fields plus those of its chosen schedule."""
    cls = SOLVERS.get(kind, f"{where}.kind")
    params = dict(params or {})
    own = {s.name for s in param_specs(cls)}
    sched_id = params.get("schedule", next(s.default for s in param_specs(cls) if s.name == "schedule"))
    if not isinstance(sched_id, str):
        raise ParamError("expected a schedule id (string)", f"{where}.params.schedule")
    sched_cls = SCHEDULES.get(sched_id, f"{where}.params.schedule")
    sched_names = {s.name for s in param_specs(sched_cls)}
    unknown = sorted(set(params) - own - sched_names)
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; valid: "
                         f"{', '.join(sorted(own | sched_names))}", f"{where}.params")
    sched_params = {k: params.pop(k) for k in list(params) if k in sched_names and k not in own}
    schedule = build(sched_cls, sched_params, f"{where}.params")
    solver = build(cls, params, f"{where}.params")
    solver.schedule_params = {s.name: getattr(schedule, s.name) for s in param_specs(sched_cls)}
    return solver


@dataclass
class Built:
    """A validated pipeline with its plugins built, ready to run."""

    pipeline: Pipeline
    process: Process
    network: Network
    guidance: dict[str, Guidance]
    solvers: dict[str, Solver]
    branches: list[Branch]

    @property
    def settings(self) -> RunSettings:
        return self.pipeline.run

    def device(self) -> torch.device:
        dev = self.settings.device
        try:
            device = torch.device(dev)
        except RuntimeError:
            raise PipelineError(f"unknown device {dev!r}; use cpu, cuda, cuda:N or mps",
                                "run.device") from None
        if device.type not in ("cpu", "cuda", "mps"):
            raise PipelineError(f"device {dev!r} cannot run a pipeline; use cpu, cuda, cuda:N or mps",
                                "run.device")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise PipelineError("CUDA was asked for but torch sees no CUDA device", "run.device")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise PipelineError(f"no CUDA device {device.index}; torch sees "
                                f"{torch.cuda.device_count()}", "run.device")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise PipelineError("MPS was asked for but is not available", "run.device")
        return device

    def labels(self) -> Tensor | None:
        lab = self.settings.labels
        if lab is None:
            return None
        batch = self.settings.batch
        if isinstance(lab, int) and not isinstance(lab, bool):
            lab = [lab] * batch
        if not (isinstance(lab, list) and len(lab) == batch and all(isinstance(v, int) for v in lab)):
            raise PipelineError(f"labels must be one integer or a list of {batch} integers",
                                "run.labels")
        return torch.tensor(lab, dtype=torch.long, device=self.device())

    def noise(self) -> Tensor:
        """Standard-normal prior noise [batch, *data_shape], drawn on the CPU from the seed."""
        g = torch.Generator().manual_seed(self.settings.seed)
        return torch.randn((self.settings.batch,) + tuple(self.network.data_shape), generator=g,
                           dtype=torch.float64)

    def check_noise(self, z: Tensor) -> Tensor:
        want = (self.settings.batch,) + tuple(self.network.data_shape)
        if tuple(z.shape) != want:
            raise PipelineError(f"noise has shape {list(z.shape)}, the pipeline needs {list(want)} "
                                "[batch, *data_shape]", "noise")
        if not bool(torch.isfinite(z).all()):
            raise PipelineError("noise holds NaN or Inf", "noise")
        return z

    def denoiser(self, branch: Branch) -> Denoiser:
        g = self.guidance.get(branch.guidance) if branch.guidance else None
        return Denoiser(self.network, self.process, g, self.labels())

    def runs(self, noise: Tensor | None = None, record: bool = False,
             cancel: CancelToken | None = None) -> Iterator[SamplingRun]:
        """One :class:`SamplingRun` per solver branch, all from the same prior sample."""
        device, dtype = self.device(), self.settings.torch_dtype()
        configure = getattr(self.network, "configure", None)
        if configure is not None:  # networks that compute in their own precision (diffusers)
            configure(DTYPES[self.settings.dtype] if self.settings.dtype in HALF else None,
                      self.settings.max_batch)
        z = self.check_noise(noise) if noise is not None else self.noise()
        x_T = self.process.prior_sample(z.to(torch.float64), torch.Generator().manual_seed(
            self.settings.seed + 1)).to(device=device, dtype=dtype)
        start = parse_start(self.settings.start, "run.start")
        for b in self.branches:
            den, solver, ts, x0 = self.denoiser(b), self.solvers[b.solver], None, x_T
            if start is not None:
                x0, ts = start.prepare(self, z, solver.times_for(den))
                x0 = x0.to(device=device, dtype=dtype)
            yield SamplingRun(den, solver, x0, seed=self.settings.seed, branch=b.solver,
                              cancel=cancel, record=record, ts=ts)

    def run(self, noise: Tensor | None = None, record: bool = False,
            cancel: CancelToken | None = None, on_event=None) -> dict[str, RunResult]:
        results = {}
        for r in self.runs(noise, record, cancel):
            for ev in r:
                if on_event is not None:
                    on_event(ev)
            results[r.branch] = r.result
        return results


def load(path: str) -> Built:
    return Pipeline.load(path).build()


__all__ = ["LINKS", "Pipeline", "Node", "RunSettings", "Branch", "Built", "FORMAT", "load", "build_solver",
           "write_atomic", "StepEvent"]

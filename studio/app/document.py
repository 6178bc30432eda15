"""The pipeline document: the editor's state, observed by every view.

It holds the nodes (type, kind, params, position), the links and the run settings of one pipeline
in the engine's format. Views never change it directly: the public methods push undoable commands
(:mod:`studio.app.commands`) onto :attr:`PipelineDocument.undo_stack`, and the commands call the
``_``-prefixed mutators, which emit the change signals the views listen to.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from ..core.errors import PipelineError, StudioError
from ..core.pipeline import FORMAT, LINKS, Pipeline, RunSettings, write_atomic
from . import commands as cmd
from . import specs
from .defaults import default_pipeline


@dataclass
class NodeState:
    id: str
    type: str
    kind: str
    params: dict
    pos: tuple[float, float] = (0.0, 0.0)

    def copy(self) -> "NodeState":
        return NodeState(self.id, self.type, self.kind, copy.deepcopy(self.params), tuple(self.pos))


UNSET = object()  #: pass to :meth:`PipelineDocument.set_param` to fall back to the default


class PipelineDocument(QObject):
    """One pipeline being edited."""

    nodeAdded = Signal(str)
    nodeRemoved = Signal(str)
    nodeChanged = Signal(str)           # kind or params
    nodeMoved = Signal(str)
    linkAdded = Signal(str, str)
    linkRemoved = Signal(str, str)
    runChanged = Signal()
    reset = Signal()                    # everything replaced (new / open)
    pathChanged = Signal(str)
    changed = Signal()                  # any change at all

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.nodes: dict[str, NodeState] = {}
        self.links: list[tuple[str, str]] = []
        self.run = RunSettings()
        self.extra: dict = {}
        self.path: str | None = None
        # asked before a pipeline that reads files outside its folder is opened:
        # (path, [(where, file)]) -> bool; None refuses such pipelines (the app installs a dialog)
        self.confirm_outside = None
        for sig in (self.nodeAdded, self.nodeRemoved, self.nodeChanged, self.nodeMoved,
                    self.runChanged, self.reset):
            sig.connect(self.changed)
        self.linkAdded.connect(self.changed)
        self.linkRemoved.connect(self.changed)
        self.load_dict(default_pipeline())

    # -- reading -------------------------------------------------------------------------------
    @property
    def base_dir(self) -> str | None:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else None

    @property
    def title(self) -> str:
        return os.path.basename(self.path) if self.path else "untitled.json"

    def inputs(self, nid: str) -> list[str]:
        return [a for a, b in self.links if b == nid]

    def outputs(self, nid: str) -> list[str]:
        return [b for a, b in self.links if a == nid]

    def of_type(self, ntype: str) -> list[str]:
        return [n.id for n in self.nodes.values() if n.type == ntype]

    def new_id(self, ntype: str, kind: str) -> str:
        base = ntype if ntype in ("process", "network") else kind
        nid, i = base, 2
        while nid in self.nodes:
            nid, i = f"{base}-{i}", i + 1
        return nid

    def can_link(self, a: str, b: str) -> str | None:
        """None if ``a -> b`` may be added, else why not (shown to the user)."""
        if a not in self.nodes or b not in self.nodes:
            return "unknown node"
        if a == b:
            return "a node cannot link to itself"
        ta, tb = self.nodes[a].type, self.nodes[b].type
        allowed = LINKS[ta]
        if tb not in allowed:
            if not allowed:
                return f"a {ta} has no outputs"
            return f"a {ta} output connects to: {' or '.join(allowed)}, not a {tb}"
        if (a, b) in self.links:
            return f"{a!r} is already linked to {b!r}"
        if self.inputs(b):
            return f"{tb} {b!r} already has an input (from {self.inputs(b)[0]!r}); remove that link first"
        return None

    def to_dict(self) -> dict:
        """The engine's pipeline JSON, node positions under ``"ui"``."""
        extra = copy.deepcopy(self.extra)
        ui = extra.get("ui") if isinstance(extra.get("ui"), dict) else {}
        ui["positions"] = {nid: [round(n.pos[0], 1), round(n.pos[1], 1)] for nid, n in self.nodes.items()}
        extra["ui"] = ui
        out: dict[str, Any] = {
            "format": FORMAT,
            "nodes": {nid: {"type": n.type, "kind": n.kind, "params": copy.deepcopy(n.params)}
                      for nid, n in self.nodes.items()},
            "links": [list(link) for link in self.links],
            "run": {k: v for k, v in dataclasses.asdict(self.run).items()
                    if not (k in ("labels", "start", "max_batch") and v is None)}}
        out.update(extra)
        return out

    def to_pipeline(self) -> Pipeline:
        """A validated engine pipeline (raises PipelineError naming the node)."""
        return Pipeline.from_dict(self.to_dict(), self.base_dir, self.title)

    def problem(self) -> str | None:
        """Why the pipeline cannot run as it stands, or None."""
        try:
            self.to_pipeline()
        except PipelineError as exc:
            return str(exc)
        for n in self.nodes.values():
            bad = specs.validate_node(n.type, n.kind, n.params, self.base_dir)
            if bad:
                return f"node {n.id!r}: {bad}"
        return None

    # -- whole-document operations (not undoable: they clear the history) ----------------------
    def load_dict(self, data: Any, source: str | None = None, path: str | None = None) -> None:
        """Replace the document; raises PipelineError (and changes nothing) if ``data`` is bad."""
        pipe = Pipeline.from_dict(data, os.path.dirname(os.path.abspath(path)) if path else None,
                                  source, strict=False)
        for nid, node in pipe.nodes.items():
            bad = _param_problem(node.type, node.kind, node.params)
            if bad:
                raise PipelineError(bad, f"{source or 'pipeline'}: node {nid!r}.params")
        positions = _positions(pipe.extra, pipe.nodes)
        self.nodes = {nid: NodeState(nid, n.type, n.kind, copy.deepcopy(n.params), positions[nid])
                      for nid, n in pipe.nodes.items()}
        self.links = list(pipe.links)
        self.run = pipe.run
        self.extra = copy.deepcopy(pipe.extra)
        self.undo_stack.clear()
        self.set_path(path)
        self.reset.emit()

    def load(self, path: str) -> None:
        """Open a pipeline file; on any problem raise PipelineError and leave the document as is."""
        from ..core.untrusted import approve, loads_json, outside_references, read_regular
        data = loads_json(read_regular(path, path, PipelineError), path, PipelineError)
        refs = outside_references(data, os.path.dirname(os.path.abspath(path)))
        if refs:  # a shared pipeline must not read local files unless the user agrees
            if self.confirm_outside is None or not self.confirm_outside(path, refs):
                raise PipelineError(f"reads files outside its folder and this was not confirmed: "
                                    f"{refs[0][1]} ({refs[0][0]})", path)
            base = os.path.dirname(os.path.abspath(path))
            approve(os.path.join(base, os.path.expanduser(f)) for _, f in refs)
        self.load_dict(data, path, os.path.abspath(path))

    def save(self, path: str) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        self.set_path(os.path.abspath(path))
        self.undo_stack.setClean()

    def new(self) -> None:
        self.load_dict(default_pipeline())

    def set_path(self, path: str | None) -> None:
        self.path = path
        self.pathChanged.emit(path or "")

    # -- undoable edits ------------------------------------------------------------------------
    def add_node(self, ntype: str, kind: str, params: dict | None = None,
                 pos: tuple[float, float] = (0.0, 0.0)) -> str:
        specs.kind_class(ntype, kind)  # raises for an unknown kind
        nid = self.new_id(ntype, kind)
        self.undo_stack.push(cmd.AddNode(self, NodeState(nid, ntype, kind, dict(params or {}), pos)))
        return nid

    def remove_nodes(self, ids: list[str]) -> None:
        ids = [i for i in ids if i in self.nodes]
        if ids:
            self.undo_stack.push(cmd.RemoveNodes(self, ids))

    def move_nodes(self, moves: dict[str, tuple[float, float]]) -> None:
        moves = {k: v for k, v in moves.items() if k in self.nodes and tuple(self.nodes[k].pos) != tuple(v)}
        if moves:
            self.undo_stack.push(cmd.MoveNodes(self, moves))

    def set_params(self, nid: str, params: dict, text: str | None = None) -> None:
        if self.nodes[nid].params != params:
            self.undo_stack.push(cmd.SetParams(self, nid, params, text))

    def set_param(self, nid: str, name: str, value: Any) -> None:
        params = dict(self.nodes[nid].params)
        if value is UNSET:
            params.pop(name, None)
        else:
            params[name] = value
        self.set_params(nid, params, f"Set {nid}.{name}")

    def set_kind(self, nid: str, kind: str, params: dict | None = None) -> None:
        node = self.nodes[nid]
        specs.kind_class(node.type, kind)
        if kind != node.kind or params is not None:
            self.undo_stack.push(cmd.SetKind(self, nid, kind, dict(params or {})))

    def link(self, a: str, b: str) -> str | None:
        """Add the link ``a -> b``; returns None, or the reason it was refused."""
        reason = self.can_link(a, b)
        if reason is None:
            self.undo_stack.push(cmd.AddLink(self, a, b))
        return reason

    def unlink(self, a: str, b: str) -> None:
        if (a, b) in self.links:
            self.undo_stack.push(cmd.RemoveLink(self, a, b))

    def set_run(self, name: str, value: Any) -> None:
        if getattr(self.run, name) != value:
            self.undo_stack.push(cmd.SetRun(self, name, value))

    def fragment(self, ids: list[str]) -> dict:
        """Nodes and the links among them, for copy/paste."""
        ids = [i for i in ids if i in self.nodes]
        return {"studio.fragment": 1,
                "nodes": [dataclasses.asdict(self.nodes[i]) for i in ids],
                "links": [list(lk) for lk in self.links if lk[0] in ids and lk[1] in ids]}

    def paste(self, fragment: dict, offset: tuple[float, float] = (30.0, 30.0)) -> list[str]:
        """Add a copied fragment with fresh ids; returns the new ids."""
        nodes = fragment.get("nodes") or []
        mapping: dict[str, str] = {}
        self.undo_stack.beginMacro("Paste")
        try:
            for n in nodes:
                try:
                    nid = self.add_node(n["type"], n["kind"], n.get("params") or {},
                                        (n["pos"][0] + offset[0], n["pos"][1] + offset[1]))
                except (KeyError, TypeError, IndexError, StudioError):
                    continue
                mapping[n["id"]] = nid
            for a, b in fragment.get("links") or []:
                if a in mapping and b in mapping:
                    self.link(mapping[a], mapping[b])
        finally:
            self.undo_stack.endMacro()
        return list(mapping.values())

    # -- mutators used by the commands ---------------------------------------------------------
    def _add_node(self, node: NodeState) -> None:
        self.nodes[node.id] = node.copy()
        self.nodeAdded.emit(node.id)

    def _remove_node(self, nid: str) -> None:
        for link in [lk for lk in self.links if nid in lk]:
            self._remove_link(*link)
        del self.nodes[nid]
        self.nodeRemoved.emit(nid)

    def _set_node(self, nid: str, kind: str, params: dict) -> None:
        self.nodes[nid].kind = kind
        self.nodes[nid].params = copy.deepcopy(params)
        self.nodeChanged.emit(nid)

    def _move(self, nid: str, pos: tuple[float, float]) -> None:
        self.nodes[nid].pos = (float(pos[0]), float(pos[1]))
        self.nodeMoved.emit(nid)

    def _add_link(self, a: str, b: str, index: int | None = None) -> None:
        if index is None:
            self.links.append((a, b))
        else:
            self.links.insert(index, (a, b))
        self.linkAdded.emit(a, b)

    def _remove_link(self, a: str, b: str) -> int:
        index = self.links.index((a, b))
        del self.links[index]
        self.linkRemoved.emit(a, b)
        return index

    def _set_run(self, name: str, value: Any) -> None:
        setattr(self.run, name, value)
        self.runChanged.emit()


def _param_problem(ntype: str, kind: str, params: dict) -> str | None:
    """Unknown or ill-typed parameters of a node being opened (values are checked, nothing is
    built: a missing data file is reported when the pipeline runs)."""
    try:
        known = {s.name: s for s in specs.all_specs(ntype, kind, params)}
    except StudioError as exc:
        return str(exc)
    for name, value in params.items():
        if name not in known:
            return f"unknown parameter {name!r}; valid: {', '.join(known) or 'none'}"
        try:
            specs.check(known[name], value, name)
        except StudioError as exc:
            return str(exc)
    return None


_COLUMN = {"process": 0, "network": 1, "guidance": 2, "solver": 3}
COLUMN_WIDTH, ROW_HEIGHT = 270.0, 190.0


def _positions(extra: dict, nodes: dict) -> dict[str, tuple[float, float]]:
    """Node positions from ``"ui"``; nodes without one are laid out in columns by type."""
    ui = extra.get("ui")
    raw = ui.get("positions", {}) if isinstance(ui, dict) else {}
    out: dict[str, tuple[float, float]] = {}
    if isinstance(raw, dict):
        for nid, p in raw.items():
            if (nid in nodes and isinstance(p, (list, tuple)) and len(p) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)):
                out[nid] = (float(p[0]), float(p[1]))
    rows: dict[int, int] = {}
    for nid, node in nodes.items():
        if nid in out:
            continue
        col = _COLUMN.get(node.type, 0)
        # solvers hang off a network or guidance: put guided solvers one column further
        rows[col] = rows.get(col, -1) + 1
        out[nid] = (col * COLUMN_WIDTH, rows[col] * ROW_HEIGHT)
    return out

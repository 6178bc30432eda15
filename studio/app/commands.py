"""Undoable edits of a :class:`~studio.app.document.PipelineDocument` (one QUndoCommand each)."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from .document import NodeState, PipelineDocument


class AddNode(QUndoCommand):
    def __init__(self, doc: "PipelineDocument", node: "NodeState"):
        super().__init__(f"Add {node.type} {node.id}")
        self.doc, self.node = doc, node.copy()

    def redo(self):
        self.doc._add_node(self.node)

    def undo(self):
        self.doc._remove_node(self.node.id)


class RemoveNodes(QUndoCommand):
    """Delete nodes and every link that touches them."""

    def __init__(self, doc: "PipelineDocument", ids: list[str]):
        super().__init__(f"Delete {', '.join(ids)}" if len(ids) < 4 else f"Delete {len(ids)} nodes")
        self.doc = doc
        self.nodes = [doc.nodes[i].copy() for i in ids]
        self.links = [(i, lk) for i, lk in enumerate(doc.links) if lk[0] in ids or lk[1] in ids]

    def redo(self):
        for i, lk in reversed(self.links):
            self.doc._remove_link(*lk)
        for n in self.nodes:
            self.doc._remove_node(n.id)

    def undo(self):
        for n in self.nodes:
            self.doc._add_node(n)
        for i, lk in self.links:
            self.doc._add_link(*lk, index=i)


class MoveNodes(QUndoCommand):
    def __init__(self, doc: "PipelineDocument", moves: dict[str, tuple[float, float]]):
        super().__init__("Move " + (next(iter(moves)) if len(moves) == 1 else f"{len(moves)} nodes"))
        self.doc = doc
        self.new = dict(moves)
        self.old = {nid: tuple(doc.nodes[nid].pos) for nid in moves}

    def redo(self):
        for nid, pos in self.new.items():
            self.doc._move(nid, pos)

    def undo(self):
        for nid, pos in self.old.items():
            self.doc._move(nid, pos)


class SetParams(QUndoCommand):
    def __init__(self, doc: "PipelineDocument", nid: str, params: dict, text: str | None = None):
        super().__init__(text or f"Edit {nid}")
        self.doc, self.nid = doc, nid
        self.kind = doc.nodes[nid].kind
        self.old = copy.deepcopy(doc.nodes[nid].params)
        self.new = copy.deepcopy(params)

    def redo(self):
        self.doc._set_node(self.nid, self.kind, self.new)

    def undo(self):
        self.doc._set_node(self.nid, self.kind, self.old)


class SetKind(QUndoCommand):
    """Change a node's kind (its parameters are replaced)."""

    def __init__(self, doc: "PipelineDocument", nid: str, kind: str, params: dict):
        super().__init__(f"Change {nid} to {kind}")
        self.doc, self.nid = doc, nid
        node = doc.nodes[nid]
        self.old = (node.kind, copy.deepcopy(node.params))
        self.new = (kind, copy.deepcopy(params))

    def redo(self):
        self.doc._set_node(self.nid, *self.new)

    def undo(self):
        self.doc._set_node(self.nid, *self.old)


class AddLink(QUndoCommand):
    def __init__(self, doc: "PipelineDocument", a: str, b: str):
        super().__init__(f"Link {a} -> {b}")
        self.doc, self.link = doc, (a, b)

    def redo(self):
        self.doc._add_link(*self.link)

    def undo(self):
        self.doc._remove_link(*self.link)


class RemoveLink(QUndoCommand):
    def __init__(self, doc: "PipelineDocument", a: str, b: str):
        super().__init__(f"Unlink {a} -> {b}")
        self.doc, self.link = doc, (a, b)
        self.index = doc.links.index((a, b))

    def redo(self):
        self.index = self.doc._remove_link(*self.link)

    def undo(self):
        self.doc._add_link(*self.link, index=self.index)


class SetRun(QUndoCommand):
    """Change a run setting; consecutive changes of the same setting merge into one step."""

    ID = 1001

    def __init__(self, doc: "PipelineDocument", name: str, value: Any):
        super().__init__(f"Set {name}")
        self.doc, self.name = doc, name
        self.old, self.new = getattr(doc.run, name), value

    def id(self):
        return self.ID

    def mergeWith(self, other):
        if other.name != self.name:
            return False
        self.new = other.new
        return True

    def redo(self):
        self.doc._set_run(self.name, self.new)

    def undo(self):
        self.doc._set_run(self.name, self.old)

"""The node editor's scene: a view of the pipeline document.

It mirrors the document (one :class:`NodeItem` per node, one :class:`LinkItem` per link) and turns
gestures into document edits: dragging from a port to a port links two nodes (refused with the
reason when the types do not fit), moving nodes pushes one undoable move.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene, QToolTip

from .. import specs
from ..colors import current as current_colors
from ..document import PipelineDocument
from .items import DRAG_PEN, LinkItem, NodeItem, PortItem, bezier

GRID = 24


class NodeScene(QGraphicsScene):
    linkRefused = Signal(str)      # the reason, for the status bar
    message = Signal(str)

    def __init__(self, doc: PipelineDocument, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.setSceneRect(QRectF(-4000, -3000, 8000, 6000))
        self.nodes: dict[str, NodeItem] = {}
        self.links: dict[tuple[str, str], LinkItem] = {}
        self._drag_from: PortItem | None = None
        self._drag_path: QGraphicsPathItem | None = None
        self._target: PortItem | None = None
        self._syncing = False
        doc.reset.connect(self.rebuild)
        doc.nodeAdded.connect(self._add_node)
        doc.nodeRemoved.connect(self._remove_node)
        doc.nodeChanged.connect(self._node_changed)
        doc.nodeMoved.connect(self._node_moved)
        doc.linkAdded.connect(self._add_link)
        doc.linkRemoved.connect(self._remove_link)
        self.rebuild()

    # -- mirroring the document ----------------------------------------------------------------
    def rebuild(self) -> None:
        self._cancel_drag()
        self.clear()
        self.nodes, self.links = {}, {}
        for nid in self.doc.nodes:
            self._add_node(nid)
        for a, b in self.doc.links:
            self._add_link(a, b)

    def _problem(self, nid: str) -> str | None:
        n = self.doc.nodes[nid]
        try:
            return specs.validate_node(n.type, n.kind, n.params, self.doc.base_dir)
        except Exception as exc:  # noqa: BLE001 - a plugin's own check failing is a problem too
            return str(exc)

    def _add_node(self, nid: str) -> None:
        n = self.doc.nodes[nid]
        item = NodeItem(nid, n.type, n.kind, n.params)
        item.update_content(n.kind, n.params, self._problem(nid))
        self._syncing = True
        item.setPos(*n.pos)
        self._syncing = False
        self.addItem(item)
        self.nodes[nid] = item

    def _remove_node(self, nid: str) -> None:
        item = self.nodes.pop(nid, None)
        if item is not None:
            self.removeItem(item)

    def _node_changed(self, nid: str) -> None:
        n = self.doc.nodes[nid]
        self.nodes[nid].update_content(n.kind, n.params, self._problem(nid))

    def _node_moved(self, nid: str) -> None:
        item = self.nodes[nid]
        pos = QPointF(*self.doc.nodes[nid].pos)
        if item.pos() != pos:
            self._syncing = True
            item.setPos(pos)
            self._syncing = False

    def _add_link(self, a: str, b: str) -> None:
        link = LinkItem(self.nodes[a], self.nodes[b])
        self.addItem(link)
        self.links[(a, b)] = link

    def _remove_link(self, a: str, b: str) -> None:
        link = self.links.pop((a, b), None)
        if link is not None:
            self.removeItem(link)

    def node_geometry_changed(self, nid: str) -> None:
        for (a, b), link in self.links.items():
            if nid in (a, b):
                link.update_path()

    # -- selection -----------------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_links(self) -> list[tuple[str, str]]:
        return [i.key for i in self.selectedItems() if isinstance(i, LinkItem)]

    def select(self, ids: list[str]) -> None:
        self.clearSelection()
        for nid in ids:
            if nid in self.nodes:
                self.nodes[nid].setSelected(True)

    def delete_selection(self) -> None:
        ids, links = self.selected_ids(), self.selected_links()
        if not ids and not links:
            return
        self.doc.undo_stack.beginMacro("Delete")
        for a, b in links:
            if a not in ids and b not in ids:
                self.doc.unlink(a, b)
        self.doc.remove_nodes(ids)
        self.doc.undo_stack.endMacro()

    # -- moving --------------------------------------------------------------------------------
    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        moves = {nid: (item.pos().x(), item.pos().y()) for nid, item in self.nodes.items()
                 if tuple(self.doc.nodes[nid].pos) != (item.pos().x(), item.pos().y())}
        if moves:
            self.doc.move_nodes(moves)

    # -- linking by dragging between ports ------------------------------------------------------
    def _ends(self, a: PortItem, b: PortItem) -> tuple[str, str] | None:
        """(from, to) node ids if the two ports face each other, else None."""
        if a.direction == b.direction:
            return None
        out, inp = (a, b) if a.direction == "out" else (b, a)
        return out.node_id, inp.node_id

    def link_reason(self, a: PortItem, b: PortItem) -> str | None:
        ends = self._ends(a, b)
        if ends is None:
            return f"both ports are {a.direction}puts: link an output (right) to an input (left)"
        return self.doc.can_link(*ends)

    def begin_link(self, port: PortItem, pos: QPointF) -> None:
        self._cancel_drag()
        self._drag_from = port
        self._drag_path = QGraphicsPathItem()
        self._drag_path.setPen(DRAG_PEN)
        self._drag_path.setZValue(5)
        self.addItem(self._drag_path)
        for item in self.nodes.values():
            for p in (item.in_port, item.out_port):
                if p is not None and p is not port:
                    p.highlight = "ok" if self.link_reason(port, p) is None else "bad"
                    p.update()
        self.drag_link(pos)

    def drag_link(self, pos: QPointF) -> None:
        if self._drag_from is None:
            return
        start = self._drag_from.scenePos()
        a, b = (start, pos) if self._drag_from.direction == "out" else (pos, start)
        self._drag_path.setPath(bezier(a, b))
        self._target = self.port_at(pos)

    def end_link(self, pos: QPointF) -> str | None:
        """Finish a drag at ``pos``; returns the refusal reason, if any."""
        src = self._drag_from
        self._cancel_drag()
        if src is None:
            return None
        dst = self.port_at(pos)
        if dst is None or dst is src:
            return None
        reason = self.link_reason(src, dst)
        if reason is None:
            self.doc.link(*self._ends(src, dst))
            self.message.emit("linked " + " → ".join(self._ends(src, dst)))
            return None
        self.linkRefused.emit(f"link refused: {reason}")
        QToolTip.showText(QCursor.pos(), f"Cannot link: {reason}")
        return reason

    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(QRectF(pos.x() - 6, pos.y() - 6, 12, 12)):
            if isinstance(item, PortItem) and item is not self._drag_from:
                return item
        return None

    def _cancel_drag(self) -> None:
        if self._drag_path is not None and self._drag_path.scene() is self:
            self.removeItem(self._drag_path)
        self._drag_path = None
        self._drag_from = None
        for item in self.nodes.values():
            for p in (item.in_port, item.out_port):
                if p is not None and p.highlight is not None:
                    p.highlight = None
                    p.update()

    # -- looks ---------------------------------------------------------------------------------
    def drawBackground(self, p: QPainter, rect: QRectF) -> None:
        c = current_colors()             # the theme's (read at each paint: switches live)
        p.fillRect(rect, QColor(c.canvas))
        left = int(rect.left()) - int(rect.left()) % GRID
        top = int(rect.top()) - int(rect.top()) % GRID
        pen = QPen(QColor(c.canvas_grid))
        pen.setWidth(0)
        p.setPen(pen)
        lines = []
        from PySide6.QtCore import QLineF
        x = left
        while x < rect.right():
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += GRID
        y = top
        while y < rect.bottom():
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += GRID
        p.drawLines(lines)

"""Graphics items of the node editor: nodes with typed ports, and links."""
from __future__ import annotations

import json

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsPathItem

from .. import specs

TYPE_COLORS = {"process": QColor(59, 110, 165), "network": QColor(120, 80, 170),
               "guidance": QColor(180, 110, 50), "solver": QColor(52, 140, 88)}
BODY = QColor(38, 43, 50)
TEXT = QColor(220, 226, 232)
DIM = QColor(150, 160, 170)
ERROR = QColor(230, 80, 70)
WIDTH, HEADER, LINE = 220.0, 26.0, 16.0
MAX_LINES = 5
PORT_R = 6.5


def summary(params: dict) -> list[str]:
    """Short lines describing the parameters a node sets."""
    out = []
    for name, value in params.items():
        if isinstance(value, list):
            shape, v = [], value
            while isinstance(v, list):
                shape.append(len(v))
                v = v[0] if v else None
            text = "×".join(map(str, shape)) + " array" if len(shape) > 1 or len(value) > 4 \
                else json.dumps(value)
        else:
            text = json.dumps(value) if not isinstance(value, str) else value
        if len(text) > 24:
            text = text[:23] + "…"
        out.append(f"{name} = {text}")
    if len(out) > MAX_LINES:
        out = out[:MAX_LINES - 1] + [f"… {len(params) - MAX_LINES + 1} more"]
    return out


class PortItem(QGraphicsItem):
    """An input (left) or output (right) port of a node."""

    def __init__(self, node: "NodeItem", direction: str):
        super().__init__(node)
        self.node, self.direction = node, direction
        self.highlight: str | None = None      # None, "ok" or "bad" while a link is dragged
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CrossCursor)
        self.setZValue(2)
        accepts = "|".join(t for t, targets in _links().items() if node.ntype in targets)
        gives = "|".join(_links().get(node.ntype, ()))
        self.setToolTip(f"input: from a {accepts}" if direction == "in" else f"output: to a {gives}"
                        + "\nDrag to another node's port to link")

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def boundingRect(self) -> QRectF:
        r = PORT_R + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, p: QPainter, *args) -> None:
        p.setRenderHint(QPainter.Antialiasing)
        color = TYPE_COLORS.get(self.node.ntype, DIM)
        if self.highlight == "ok":
            color = QColor(110, 230, 120)
        elif self.highlight == "bad":
            color = ERROR
        p.setPen(QPen(QColor(20, 22, 26), 1.5))
        p.setBrush(color.lighter(130))
        p.drawEllipse(QPointF(0, 0), PORT_R, PORT_R)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self.scene() is not None:
            self.scene().begin_link(self, event.scenePos())
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self.scene() is not None:
            self.scene().drag_link(event.scenePos())

    def mouseReleaseEvent(self, event) -> None:
        if self.scene() is not None:
            self.scene().end_link(event.scenePos())


def _links():
    from ...core.pipeline import LINKS
    return LINKS


class NodeItem(QGraphicsObject):
    """A pipeline node: coloured header (type, kind), id and parameter summary, ports."""

    def __init__(self, node_id: str, ntype: str, kind: str, params: dict):
        super().__init__()
        self.node_id, self.ntype = node_id, ntype
        self.kind, self.params = kind, params
        self.problem: str | None = None
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setZValue(1)
        self.in_port = PortItem(self, "in") if specs.has_input(ntype) else None
        self.out_port = PortItem(self, "out") if specs.has_output(ntype) else None
        self._font = QFont()
        self._font.setPointSizeF(9)
        self._bold = QFont(self._font)
        self._bold.setBold(True)
        self._small = QFont(self._font)
        self._small.setPointSizeF(8)
        self.update_content(kind, params, None)

    def update_content(self, kind: str, params: dict, problem: str | None) -> None:
        self.prepareGeometryChange()
        self.kind, self.params, self.problem = kind, dict(params), problem
        self.lines = summary(self.params) or ["(defaults)"]
        self.height = HEADER + 6 + LINE * (1 + len(self.lines)) + 6
        y = HEADER / 2
        if self.in_port:
            self.in_port.setPos(0, y)
        if self.out_port:
            self.out_port.setPos(WIDTH, y)
        # the header and subtitle are elided on the node: the tooltip has them whole
        tip = (f"{self.ntype.upper()} · {self.kind} (id {self.node_id})\n"
               f"{specs.kind_title(self.ntype, kind)}\n\n"
               f"{specs.TYPE_TITLES[self.ntype]} “{self.kind}”: {specs.kind_doc(self.ntype, kind)}")
        if problem:
            tip += f"\n\nProblem: {problem}"
        self.setToolTip(tip)
        self.update()

    def port(self, direction: str) -> PortItem | None:
        return self.in_port if direction == "in" else self.out_port

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, WIDTH + 4, self.height + 4)

    def paint(self, p: QPainter, option, widget=None) -> None:
        p.setRenderHint(QPainter.Antialiasing)
        rect = QRectF(0, 0, WIDTH, self.height)
        color = TYPE_COLORS.get(self.ntype, DIM)
        path = QPainterPath()
        path.addRoundedRect(rect, 7, 7)
        p.fillPath(path, BODY)
        head = QPainterPath()
        head.addRoundedRect(QRectF(0, 0, WIDTH, HEADER), 7, 7)
        head.addRect(QRectF(0, HEADER / 2, WIDTH, HEADER / 2))
        p.fillPath(head.simplified(), color)
        if self.isSelected():
            pen = QPen(QColor(255, 214, 90), 2.2)
        elif self.problem:
            pen = QPen(ERROR, 2.0)
        else:
            pen = QPen(QColor(70, 78, 88), 1.2)
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        p.drawPath(path)
        p.setPen(TEXT)
        p.setFont(self._bold)
        head = f"{self.ntype.upper()} · {self.kind}"
        if self.problem:
            head = "⚠ " + head
        fm = QFontMetrics(self._bold)
        p.drawText(QRectF(14, 0, WIDTH - 28, HEADER), Qt.AlignVCenter | Qt.AlignLeft,
                   fm.elidedText(head, Qt.ElideRight, int(WIDTH - 28)))
        p.setFont(self._small)
        p.setPen(DIM)
        y = HEADER + 6
        sub = f"id {self.node_id} · {specs.kind_title(self.ntype, self.kind)}"
        p.drawText(QRectF(12, y, WIDTH - 24, LINE), Qt.AlignVCenter,
                   QFontMetrics(self._small).elidedText(sub, Qt.ElideRight, int(WIDTH - 24)))
        p.setPen(TEXT)
        p.setFont(self._font)
        fm = QFontMetrics(self._font)
        for line in self.lines:
            y += LINE
            p.drawText(QRectF(12, y, WIDTH - 24, LINE), Qt.AlignVCenter,
                       fm.elidedText(line, Qt.ElideRight, int(WIDTH - 24)))

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged and self.scene() is not None:
            self.scene().node_geometry_changed(self.node_id)
        return super().itemChange(change, value)


class LinkItem(QGraphicsPathItem):
    """A link from one node's output port to another's input port."""

    def __init__(self, src: NodeItem, dst: NodeItem):
        super().__init__()
        self.src, self.dst = src, dst
        self.setFlag(QGraphicsItem.ItemIsSelectable)
        self.setZValue(0)
        self.setToolTip(f"{src.node_id} → {dst.node_id} (select and press Delete to remove)")
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return self.src.node_id, self.dst.node_id

    def update_path(self) -> None:
        a = self.src.out_port.scenePos() if self.src.out_port else self.src.scenePos()
        b = self.dst.in_port.scenePos() if self.dst.in_port else self.dst.scenePos()
        self.setPath(bezier(a, b))

    def paint(self, p: QPainter, option, widget=None) -> None:
        color = TYPE_COLORS.get(self.src.ntype, DIM).lighter(140)
        pen = QPen(QColor(255, 214, 90) if self.isSelected() else color, 3.0 if self.isSelected() else 2.2)
        pen.setCapStyle(Qt.RoundCap)
        p.setRenderHint(QPainter.Antialiasing)
        p.setPen(pen)
        p.setBrush(Qt.NoBrush)
        p.drawPath(self.path())

    def shape(self) -> QPainterPath:
        from PySide6.QtGui import QPainterPathStroker
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())


def bezier(a: QPointF, b: QPointF) -> QPainterPath:
    path = QPainterPath(a)
    dx = max(abs(b.x() - a.x()) * 0.5, 40.0)
    path.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return path


DRAG_PEN = QPen(QColor(230, 230, 230, 180), 2.0, Qt.DashLine)
DRAG_BRUSH = QBrush(Qt.NoBrush)

"""The node editor's view: zoom, pan, rubber-band selection, right-click menus, drops, clipboard."""
from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPointF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QMouseEvent, QPainter
from PySide6.QtWidgets import QApplication, QGraphicsView, QMenu

from ...core import catalog
from .. import specs
from ..colors import Colors, Themed
from .items import LinkItem, NodeItem
from .scene import NodeScene

#: drag-and-drop payload: a JSON node {"type", "kind", "params"}
NODE_MIME = "application/x-studio-node"
#: clipboard payload: a document fragment (nodes and links)
FRAGMENT_MIME = "application/x-studio-fragment"


class NodeView(QGraphicsView, Themed):
    nodesAdded = Signal(list)

    def apply_colors(self, c: Colors) -> None:
        """The canvas draws its background in the theme's colours at each paint: repaint it."""
        self.resetCachedContent()
        self.viewport().update()

    def __init__(self, scene: NodeScene, parent=None):
        super().__init__(scene, parent)
        self.node_scene = scene
        self.doc = scene.doc
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.BoundingRectViewportUpdate)
        self.setAcceptDrops(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.StrongFocus)
        self._pan: QPointF | None = None
        self.setToolTip("")
        fit = QAction("Fit to view", self)
        fit.setShortcut(QKeySequence("F"))
        fit.setShortcutContext(Qt.WidgetShortcut)
        fit.triggered.connect(self.fit)
        self.addAction(fit)
        self.fit_action = fit

    # -- zoom and pan --------------------------------------------------------------------------
    def wheelEvent(self, event) -> None:
        factor = 1.0015 ** event.angleDelta().y()
        scale = self.transform().m11() * factor
        if 0.15 < scale < 4.0:
            self.scale(factor, factor)

    def zoom(self, factor: float) -> None:
        self.scale(factor, factor)

    def fit(self) -> None:
        rect = self.node_scene.itemsBoundingRect()
        if rect.isNull():
            return
        self.fitInView(rect.adjusted(-60, -60, 60, 60), Qt.KeepAspectRatio)
        if self.transform().m11() > 1.25:
            self.resetTransform()
            self.scale(1.25, 1.25)
            self.centerOn(rect.center())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MiddleButton:
            self._pan = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan is not None:
            delta = event.position() - self._pan
            self._pan = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MiddleButton and self._pan is not None:
            self._pan = None
            self.viewport().unsetCursor()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace):
            self.node_scene.delete_selection()
            return
        super().keyPressEvent(event)

    # -- adding nodes --------------------------------------------------------------------------
    def add_node(self, ntype: str, kind: str, params: dict | None = None,
                 scene_pos: QPointF | None = None) -> str:
        if scene_pos is None:
            scene_pos = self.mapToScene(self.viewport().rect().center()) - QPointF(110, 40)
            # do not stack new nodes exactly on top of each other
            while any((n.pos[0], n.pos[1]) == (scene_pos.x(), scene_pos.y())
                      for n in self.doc.nodes.values()):
                scene_pos += QPointF(24, 24)
        nid = self.doc.add_node(ntype, kind, params, (scene_pos.x(), scene_pos.y()))
        self.node_scene.select([nid])
        self.nodesAdded.emit([nid])
        return nid

    def contextMenuEvent(self, event) -> None:
        pos = self.mapToScene(event.pos())
        item = self.itemAt(event.pos())
        while item is not None and not isinstance(item, (NodeItem, LinkItem)):
            item = item.parentItem()
        menu = self.build_menu(item, pos)
        menu.exec(event.globalPos())

    def build_menu(self, item, pos: QPointF) -> QMenu:
        """The right-click menu: every registered kind, read from the registries now."""
        menu = QMenu(self)
        if isinstance(item, LinkItem):
            menu.addAction("Delete link", lambda: self.doc.unlink(*item.key))
            return menu
        if isinstance(item, NodeItem):
            if not item.isSelected():
                self.node_scene.select([item.node_id])
            change = menu.addMenu("Change kind")
            for kind in specs.kinds(item.ntype):
                act = change.addAction(f"{specs.kind_title(item.ntype, kind)}  ({kind})",
                                       lambda k=kind, n=item.node_id: self.doc.set_kind(n, k))
                act.setEnabled(kind != item.kind)
            menu.addAction("Copy", self.copy)
            menu.addAction("Duplicate", lambda: self.paste_fragment(
                self.doc.fragment(self.node_scene.selected_ids())))
            menu.addAction("Delete", self.node_scene.delete_selection)
            return menu
        for ntype in specs.TYPES:
            sub = menu.addMenu(f"Add {ntype}")
            kinds = specs.kinds(ntype)
            for kind in kinds:
                act = sub.addAction(f"{specs.kind_title(ntype, kind)}  ({kind})",
                                    lambda t=ntype, k=kind: self.add_node(t, k, None, pos))
                act.setToolTip(specs.kind_doc(ntype, kind))
            if ntype == "network":
                models = sub.addMenu("Built-in models")
                for e in catalog.builtin():
                    models.addAction(e.title, lambda e=e: self.add_node(
                        "network", e.node["kind"], e.node["params"], pos))
            if not kinds:
                sub.addAction("(none registered)").setEnabled(False)
            sub.setToolTipsVisible(True)
        menu.addSeparator()
        paste = menu.addAction("Paste", lambda: self.paste(pos))
        paste.setEnabled(self._clipboard_fragment() is not None)
        menu.addAction("Fit to view", self.fit)
        return menu

    # -- clipboard -----------------------------------------------------------------------------
    def copy(self) -> bool:
        ids = self.node_scene.selected_ids()
        if not ids:
            return False
        frag = self.doc.fragment(ids)
        mime = QMimeData()
        data = json.dumps(frag)
        mime.setData(FRAGMENT_MIME, data.encode())
        mime.setText(data)
        QApplication.clipboard().setMimeData(mime)
        return True

    def _clipboard_fragment(self) -> dict | None:
        mime = QApplication.clipboard().mimeData()
        if mime is None or not mime.hasFormat(FRAGMENT_MIME):
            return None
        try:
            frag = json.loads(bytes(mime.data(FRAGMENT_MIME)).decode())
        except (ValueError, UnicodeDecodeError):
            return None
        return frag if isinstance(frag, dict) else None

    def paste(self, at: QPointF | None = None) -> list[str]:
        frag = self._clipboard_fragment()
        return self.paste_fragment(frag, at) if frag else []

    def paste_fragment(self, frag: dict, at: QPointF | None = None) -> list[str]:
        nodes = frag.get("nodes") or []
        if not nodes:
            return []
        offset = (30.0, 30.0)
        if at is not None:
            x0 = min(n["pos"][0] for n in nodes)
            y0 = min(n["pos"][1] for n in nodes)
            offset = (at.x() - x0, at.y() - y0)
        ids = self.doc.paste(frag, offset)
        self.node_scene.select(ids)
        self.nodesAdded.emit(ids)
        return ids

    # -- drops from the palette and the model browser -------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if not event.mimeData().hasFormat(NODE_MIME):
            super().dropEvent(event)
            return
        try:
            node = json.loads(bytes(event.mimeData().data(NODE_MIME)).decode())
        except (ValueError, UnicodeDecodeError):
            return
        pos = self.mapToScene(event.position().toPoint())
        self.add_node(node["type"], node["kind"], node.get("params") or {}, pos - QPointF(110, 20))
        event.acceptProposedAction()


def node_mime(ntype: str, kind: str, params: dict | None = None) -> QMimeData:
    mime = QMimeData()
    mime.setData(NODE_MIME, json.dumps({"type": ntype, "kind": kind, "params": params or {}}).encode())
    return mime

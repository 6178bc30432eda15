"""The node palette: every registered kind of every node type, read from the engine's registries
each time the palette is shown (plugins may have registered more). Double-click or drag a kind
onto the canvas to add it."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from .. import specs
from .items import TYPE_COLORS
from .view import node_mime

ROLE = Qt.UserRole + 1


class _Tree(QTreeWidget):
    def mimeData(self, items):
        item = items[0]
        data = item.data(0, ROLE)
        return node_mime(*data) if data else super().mimeData(items)


class Palette(QWidget):
    addRequested = Signal(str, str)     # type, kind

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter node kinds…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragOnly)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.tree.setToolTip("Double-click, or drag onto the canvas, to add a node")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree)
        self._signature = None
        self.refresh()

    def refresh(self) -> None:
        signature = tuple((t, tuple(specs.kinds(t))) for t in specs.TYPES)
        if signature == self._signature:
            return
        self._signature = signature
        self.tree.clear()
        for ntype, kinds in signature:
            top = QTreeWidgetItem([f"{specs.TYPE_TITLES[ntype]} ({len(kinds)})"])
            top.setFlags(Qt.ItemIsEnabled)
            top.setForeground(0, TYPE_COLORS[ntype].lighter(150))
            f = top.font(0)
            f.setBold(True)
            top.setFont(0, f)
            for kind in kinds:
                child = QTreeWidgetItem([f"{specs.kind_title(ntype, kind)}  ·  {kind}"])
                child.setData(0, ROLE, (ntype, kind))
                child.setToolTip(0, specs.kind_doc(ntype, kind) or kind)
                child.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        self._apply_filter(self.filter.text())

    def showEvent(self, event) -> None:
        self.refresh()
        super().showEvent(event)

    def _apply_filter(self, text: str) -> None:
        text = text.lower().strip()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                child = top.child(j)
                child.setHidden(bool(text) and text not in child.text(0).lower())

    def _double_clicked(self, item, column) -> None:
        data = item.data(0, ROLE)
        if data:
            self.addRequested.emit(*data)

    def item_for(self, ntype: str, kind: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                if top.child(j).data(0, ROLE) == (ntype, kind):
                    return top.child(j)
        return None

"""The Gallery panel: a picture per finished run and branch, with its seed and pipeline.

Double-click (or Open pipeline) restores the pipeline that made the picture; Export PNG writes the
picture with the pipeline embedded, so dropping the file on the window (or ``studio run`` on it)
gives the pipeline back. The panel observes a :class:`~.gallery.GalleryStore`.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QMenu, QPushButton, QStackedLayout, QVBoxLayout,
                               QWidget)

from .gallery import THUMB, GalleryItem, GalleryStore

ITEM_ROLE = Qt.UserRole + 1
EMPTY_TEXT = ("<p style='color:#8a949e'>Every finished run lands here: one picture per solver "
              "branch, with its seed and the pipeline that made it.<br>Press <b>Run</b> (Ctrl+R) "
              "to make the first one; drop an exported PNG on the window to get its pipeline "
              "back.</p>")


EDIT_TIP = ("Start the Edit workspace from this picture's samples: invert them to noise or "
            "SDEdit them, change the label, regenerate")
#: the data shapes the Edit workspace takes: 2-D points, 8x8 grey digits
EDITABLE_SHAPES = ([2], [1, 8, 8])


def edit_problem(item: GalleryItem | None) -> str:
    """Why the Edit workspace cannot start from ``item`` ("" if it can)."""
    if item is None:
        return "no picture"
    if list(item.meta.get("data_shape") or []) not in EDITABLE_SHAPES:
        return (f"the Edit workspace takes 2-D points or 8x8 digits, not data of shape "
                f"{item.meta.get('data_shape')}")
    if not item.has_samples():
        return "its samples were not kept (a picture from an older version)"
    return ""


class GalleryPanel(QWidget):
    openRequested = Signal(str)          # PNG path
    editRequested = Signal(object)       # GalleryItem: start the Edit workspace from its samples
    message = Signal(str, str)           # level (ok, error), text

    def __init__(self, store: GalleryStore, parent=None):
        super().__init__(parent)
        self.store = store
        self.list = QListWidget()
        self.list.setObjectName("galleryList")
        self.list.setViewMode(QListWidget.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 52, THUMB + 44))
        self.list.setResizeMode(QListWidget.Adjust)
        self.list.setMovement(QListWidget.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemDoubleClicked.connect(lambda it: self.openRequested.emit(it.data(ITEM_ROLE).path))
        self.list.currentItemChanged.connect(lambda *_: self._sync())
        self.list.itemSelectionChanged.connect(self._sync)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setTextFormat(Qt.RichText)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.list)

        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.open_button = QPushButton("Open pipeline")
        self.open_button.setToolTip("Put the pipeline that made this picture on the canvas "
                                    "(double-click does the same)")
        self.open_button.clicked.connect(self._open_current)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the picture with its pipeline embedded: drop it on the "
                                      "window or pass it to `studio run` to get the pipeline back")
        self.export_button.clicked.connect(self.export_dialog)
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip(EDIT_TIP)
        self.edit_button.clicked.connect(self._edit_current)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.details, 1)
        for b in (self.open_button, self.edit_button, self.export_button, self.delete_button):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(self.stack, 1)
        lay.addLayout(buttons)

        store.added.connect(self._add_front)
        store.removed.connect(self._remove)
        store.reset.connect(self._rebuild)
        self._rebuild()

    # -- items ---------------------------------------------------------------------------------
    def _make(self, item: GalleryItem) -> QListWidgetItem:
        it = QListWidgetItem(item.caption())
        if item.thumb is not None and not item.thumb.isNull():
            it.setIcon(QIcon(QPixmap.fromImage(item.thumb)))
        it.setData(ITEM_ROLE, item)
        it.setToolTip(item.summary())
        it.setTextAlignment(Qt.AlignHCenter | Qt.AlignTop)
        return it

    def _rebuild(self) -> None:
        current = self.current()
        self.list.clear()
        for item in self.store.items:
            self.list.addItem(self._make(item))
        if current is not None:
            self.select(current)
        self._sync()

    def _add_front(self, item: GalleryItem) -> None:
        self.list.insertItem(0, self._make(item))
        self.list.setCurrentRow(0, QItemSelectionModel.ClearAndSelect)
        self._sync()

    def _remove(self, item: GalleryItem) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ITEM_ROLE) is item:
                self.list.takeItem(row)
                break
        self._sync()

    def items(self) -> list[GalleryItem]:
        return [self.list.item(r).data(ITEM_ROLE) for r in range(self.list.count())]

    def current(self) -> GalleryItem | None:
        it = self.list.currentItem()
        return it.data(ITEM_ROLE) if it is not None else None

    def select(self, item: GalleryItem) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ITEM_ROLE) is item:
                self.list.setCurrentRow(row, QItemSelectionModel.ClearAndSelect)
                return

    def _sync(self) -> None:
        item = self.current()
        has = item is not None
        self.stack.setCurrentIndex(1 if self.list.count() else 0)
        for b in (self.open_button, self.export_button, self.delete_button):
            b.setEnabled(has)
        why = edit_problem(item) if has else "select a picture"
        self.edit_button.setEnabled(not why)
        self.edit_button.setToolTip(EDIT_TIP + (f"\n(not for this picture: {why})" if why else ""))
        self.details.setText(item.summary() if has else "")

    # -- actions -------------------------------------------------------------------------------
    def _open_current(self) -> None:
        item = self.current()
        if item is not None:
            self.openRequested.emit(item.path)

    def _edit_current(self) -> None:
        item = self.current()
        if item is not None and not edit_problem(item):
            self.editRequested.emit(item)

    def export_dialog(self) -> None:
        item = self.current()
        if item is None:
            return
        start = os.path.join(os.path.expanduser("~"), item.name)
        path, _ = QFileDialog.getSaveFileName(self, "Export picture with its pipeline", start,
                                              "PNG images (*.png)")
        if path:
            self.export(item, path if path.lower().endswith(".png") else path + ".png")

    def export(self, item: GalleryItem, path: str) -> bool:
        try:
            self.store.export(item, path)
        except OSError as exc:
            self.message.emit("error", f"cannot export to {path}: {exc.strerror or exc}")
            return False
        self.message.emit("ok", f"saved {path} (the pipeline is inside: drop it on the window)")
        return True

    def _delete_selected(self) -> None:
        for it in list(self.list.selectedItems()) or ([self.list.currentItem()]
                                                       if self.list.currentItem() else []):
            self.store.delete(it.data(ITEM_ROLE))

    def _menu(self, pos) -> None:
        it = self.list.itemAt(pos)
        if it is None:
            return
        self.list.setCurrentItem(it)
        menu = QMenu(self)
        menu.addAction("Open pipeline", self._open_current)
        act = menu.addAction("Edit… (invert or SDEdit in the Edit workspace)", self._edit_current)
        act.setEnabled(not edit_problem(it.data(ITEM_ROLE)))
        menu.addAction("Export PNG…", self.export_dialog)
        menu.addSeparator()
        menu.addAction("Delete", self._delete_selected)
        menu.exec(self.list.viewport().mapToGlobal(pos))

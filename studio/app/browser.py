"""The model browser: catalog entries (built-in models, model files in library folders) with
pictures of their densities and a card; double-click or drag one onto the canvas.

:class:`BrowserModel` lists what the engine's catalog providers return
(:func:`studio.core.catalog.entries`), so a new provider (a model library, a zoo) shows up here
without touching the app. Folders come from the app settings (the library folder and folders the
user adds).
"""
from __future__ import annotations

import html
import json
import os
from typing import Callable

import numpy as np
from PySide6.QtCore import (QAbstractListModel, QModelIndex, QObject, QRunnable, QSize, Qt,
                            QThreadPool, QTimer, Signal)
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QLabel, QLineEdit,
                               QListView, QPushButton, QSplitter, QTextBrowser, QVBoxLayout, QWidget)

from ..core import catalog
from .backdrop import make_backdrop
from .editor.view import NODE_MIME
from .views.branch import DENSITY_CMAP

ENTRY_ROLE = Qt.UserRole + 1
THUMB = 72


def density_rgb(entry: catalog.Entry) -> tuple[np.ndarray, str] | None:
    """An RGB picture [H, W, 3] of the model's data density and a tag ("PCA" for a projection),
    or None (safe in any thread)."""
    if entry.source != "built-in":
        return None
    try:
        bd = make_backdrop(entry.build(), samples=1500, grid=72)
    except Exception:  # noqa: BLE001 - a picture is optional
        return None
    if bd.density is None:
        return None
    lut = DENSITY_CMAP.getLookupTable(nPts=256, alpha=False)
    rgb = np.ascontiguousarray(lut[(np.clip(bd.density, 0, 1) * 255).astype(np.uint8)][::-1])
    return rgb, ("PCA" if bd.mode == "pca" else "")


def to_pixmap(rgb: np.ndarray, tag: str = "", size: int = THUMB) -> QPixmap:
    h, w = rgb.shape[:2]
    qimg = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    pm = QPixmap.fromImage(qimg).scaled(size, size, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    if tag:
        p = QPainter(pm)
        p.setPen(QColor(230, 230, 230))
        p.drawText(pm.rect().adjusted(3, 1, -3, -1), Qt.AlignRight | Qt.AlignBottom, tag)
        p.end()
    return pm


#: pictures computed so far, shared by every browser of the process: key -> RGB array or None
_PICTURES: dict[str, tuple | None] = {}


class _PictureSignals(QObject):
    done = Signal(str)
    listed = Signal(int, object)       # generation, entries


class _ListJob(QRunnable):
    """Ask every catalog provider for its entries (reading model files' metadata can take a
    while: it must not hold up the window)."""

    def __init__(self, gen: int, folders: list[str], signals: _PictureSignals):
        super().__init__()
        self.gen, self.folders, self.signals = gen, folders, signals

    def run(self) -> None:
        entries = catalog.entries(self.folders)
        try:
            self.signals.listed.emit(self.gen, entries)
        except RuntimeError:  # the browser is gone
            pass


class _PictureJob(QRunnable):
    def __init__(self, key: str, entry: catalog.Entry, signals: _PictureSignals):
        super().__init__()
        self.key, self.entry, self.signals = key, entry, signals

    def run(self) -> None:
        _PICTURES[self.key] = density_rgb(self.entry)
        try:
            self.signals.done.emit(self.key)
        except RuntimeError:  # the browser is gone
            pass


class BrowserModel(QAbstractListModel):
    """Catalog entries as a list model. The built-in models are listed at once; every provider
    (model files too) is asked in a background thread by :meth:`refresh`, which emits
    :attr:`listed` when done. Pictures are drawn lazily in the background, once per process."""

    listed = Signal()

    def __init__(self, folders: Callable[[], list[str]] = lambda: [], parent=None):
        super().__init__(parent)
        self._folders = folders
        self.entries: list[catalog.Entry] = []
        self._icons: dict[str, QIcon] = {}
        self._queued: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _PictureSignals(self)
        self._signals.done.connect(self._picture_ready)
        self._signals.listed.connect(self._listed)
        self._list_pool = QThreadPool(self)
        self._list_pool.setMaxThreadCount(1)
        self._gen = 0
        self.entries = catalog.builtin()

    @staticmethod
    def key(e: catalog.Entry) -> str:
        return f"{e.source}:{e.name}:{hash(repr(e.node))}"

    def icon(self, e: catalog.Entry) -> QIcon:
        """The entry's density picture; drawn in a background thread, blank until then."""
        key = self.key(e)
        if key in self._icons:
            return self._icons[key]
        if e.preview_png:
            pm = QPixmap()
            if pm.loadFromData(e.preview_png, "PNG"):
                self._icons[key] = QIcon(pm.scaled(THUMB, THUMB, Qt.KeepAspectRatio,
                                                   Qt.SmoothTransformation))
                return self._icons[key]
        if key in _PICTURES:
            pic = _PICTURES[key]
            self._icons[key] = QIcon(to_pixmap(*pic)) if pic is not None else self._blank()
            return self._icons[key]
        if key not in self._queued:
            self._queued.add(key)
            self._pool.start(_PictureJob(key, e, self._signals))
        return self._blank()

    def _blank(self) -> QIcon:
        """A placeholder of the picture's size, so rows do not jump when pictures arrive."""
        if not hasattr(self, "_blank_icon"):
            pm = QPixmap(THUMB, THUMB)
            pm.fill(QColor(16, 20, 24))
            self._blank_icon = QIcon(pm)
        return self._blank_icon

    def _picture_ready(self, key: str) -> None:
        for i, e in enumerate(self.entries):
            if self.key(e) == key:
                idx = self.index(i)
                self.dataChanged.emit(idx, idx, [Qt.DecorationRole])

    def wait(self, ms: int = 10000) -> bool:
        return self._list_pool.waitForDone(ms) and self._pool.waitForDone(ms)

    def refresh(self) -> None:
        """List every provider's entries again (in the background; :attr:`listed` when done)."""
        self._gen += 1
        self._list_pool.start(_ListJob(self._gen, list(self._folders()), self._signals))

    def _listed(self, gen: int, entries: list) -> None:
        if gen != self._gen:
            return
        self.beginResetModel()
        self.entries = entries
        self.endResetModel()
        self.listed.emit()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.entries)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        e = self.entries[index.row()]
        if role == Qt.DisplayRole:
            return e.title
        if role == Qt.ToolTipRole:
            return f"{e.title} ({e.name})\n{e.description}"
        if role == Qt.DecorationRole:
            return self.icon(e)
        if role == ENTRY_ROLE:
            return e
        return None

    def flags(self, index):
        base = super().flags(index)
        return base | Qt.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self):
        return [NODE_MIME]

    def mimeData(self, indexes):
        from .editor.view import node_mime
        e = self.entries[indexes[0].row()]
        node = e.network_node()
        return node_mime(node["type"], node["kind"], node.get("params"))

    def index_of(self, name: str) -> QModelIndex:
        for i, e in enumerate(self.entries):
            if e.name == name:
                return self.index(i)
        return QModelIndex()


def _get(c: dict, *path, default=None):
    for key in path:
        if not isinstance(c, dict) or key not in c:
            return default
        c = c[key]
    return c


def card_fields(c: dict) -> list[tuple[str, object]]:
    """The card's rows, for built-in (network.card()) and model-file (library) cards alike."""
    if c.get("kind") == "diffusers":
        from .diffusers_ui import card_fields as diffusers_fields
        return [(k, v) for k, v in diffusers_fields(c) if v is not None]
    process = c.get("process")
    if isinstance(process, dict):
        process = process.get("kind")
    classes = c.get("num_classes", _get(c, "conditioning", "num_classes", default=0))
    rows = [("name", c.get("name")), ("kind", c.get("kind")),
            ("data shape", c.get("data_shape", _get(c, "data", "shape"))),
            ("data", _get(c, "data", "kind")),
            ("parameterization", c.get("parameterization")),
            ("trained with process", process or "any"),
            ("classes", classes or "unconditional"),
            ("architecture", _get(c, "architecture", "id")),
            ("parameters", c.get("parameters")), ("components", c.get("components")),
            ("points", c.get("points"))] + training_rows(c.get("training")) + [
            ("source", c.get("source")), ("file", c.get("path")), ("problem", c.get("error"))]
    return [(k, v) for k, v in rows if v is not None]


def training_rows(t) -> list[tuple[str, object]]:
    """A trained model's training summary (model-file metadata), as card rows."""
    if not isinstance(t, dict) or not t:
        return []
    ds = t.get("dataset") if isinstance(t.get("dataset"), dict) else {}
    data = ds.get("kind")
    if data and ds.get("items"):
        data = f"{data} ({ds['items']} items)"
    obj = t.get("objective")
    if obj and t.get("weighting") not in (None, "none"):
        obj = f"{obj}, {t['weighting']} weighting"
    num = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    steps = f"{t['steps']} × batch {t.get('batch', '?')}" if num(t.get("steps")) else None
    loss = f"{t['loss']:.4g}" if num(t.get("loss")) else None
    took = (f"{t['seconds']:.1f} s on {t.get('device', '?')}" if num(t.get("seconds")) else None)
    return [("trained on", data), ("objective", obj), ("training steps", steps),
            ("final loss", loss), ("training time", took), ("seed", t.get("seed")),
            ("trained", t.get("date"))]


def card_html(entry: catalog.Entry) -> str:
    try:
        c = entry.card()
    except Exception as exc:  # noqa: BLE001 - show why the model cannot be loaded
        return f"<b>{html.escape(entry.title)}</b><p style='color:#e0564a'>Cannot load: " \
               f"{html.escape(str(exc))}</p>"
    table = "".join(f"<tr><td style='color:#9aa4ae; padding-right:8px'>{k}</td>"
                    f"<td>{html.escape(json.dumps(v) if isinstance(v, list) else str(v))}</td></tr>"
                    for k, v in card_fields(c))
    subtitle = c.get("title", "") if entry.source == "built-in" else ""
    return (f"<b>{html.escape(entry.title)}</b><br><span style='color:#9aa4ae'>"
            f"{html.escape(str(subtitle))}</span><p>{html.escape(entry.description)}</p>"
            f"<table>{table}</table>")


class ModelBrowser(QWidget):
    useRequested = Signal(object)     # catalog.Entry
    foldersChanged = Signal()

    def __init__(self, settings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.model = BrowserModel(self.folders, self)
        self.model.listed.connect(self._listed)
        self._listed_once = False
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter models…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setWordWrap(True)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragOnly)
        self.list.setToolTip("Double-click to use as the pipeline's network; drag onto the canvas "
                             "to add a network node")
        self.list.doubleClicked.connect(lambda idx: self.useRequested.emit(self.model.entries[idx.row()]))
        self.list.selectionModel().currentChanged.connect(self._current_changed)
        self.card = QTextBrowser()
        self.card.setOpenExternalLinks(False)
        self.card.setMinimumHeight(120)
        use = QPushButton("Use in pipeline")
        use.setToolTip("Replace the pipeline's network with this model (undoable)")
        use.clicked.connect(self._use_current)
        add_folder = QPushButton("Add folder…")
        add_folder.setToolTip("List the model files and diffusers folders of another folder")
        add_folder.clicked.connect(self._add_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(use)
        buttons.addWidget(add_folder)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setStyleSheet("color: #8a949e; font-size: 10px;")
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.filter)
        tl.addWidget(self.list, 1)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.card, 1)
        bl.addLayout(buttons)
        bl.addWidget(self.folder_label)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([380, 220])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._update_folder_label()
        if self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(0))

    def folders(self) -> list[str]:
        return [catalog.default_library_dir()] + self.settings.model_folders()

    def refresh(self) -> None:
        """List the models again (model files are read in the background)."""
        self.model.refresh()
        self._update_folder_label()

    def _listed(self) -> None:
        current = self.current()
        self._apply_filter(self.filter.text())
        if current is not None:
            self.select(current.name)
        elif self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(0))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._listed_once:
            self._listed_once = True
            # after the window is up: reading model files can take seconds on a busy machine
            QTimer.singleShot(400, self.refresh)

    def select(self, name: str) -> None:
        idx = self.model.index_of(name)
        if idx.isValid():
            self.list.setCurrentIndex(idx)

    def current(self) -> catalog.Entry | None:
        idx = self.list.currentIndex()
        return self.model.entries[idx.row()] if idx.isValid() else None

    def _current_changed(self, idx, _prev) -> None:
        if idx.isValid():
            self.card.setHtml(card_html(self.model.entries[idx.row()]))

    def _use_current(self) -> None:
        e = self.current()
        if e is not None:
            self.useRequested.emit(e)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        self.settings.add_model_folder(os.path.abspath(folder))
        self.refresh()
        self.foldersChanged.emit()

    def _update_folder_label(self) -> None:
        self.folder_label.setText("Model folders: " + "; ".join(self.folders()))

    def _apply_filter(self, text: str) -> None:
        text = text.lower().strip()
        for i, e in enumerate(self.model.entries):
            hay = f"{e.name} {e.title} {e.description} {' '.join(e.tags)}".lower()
            self.list.setRowHidden(i, bool(text) and text not in hay)

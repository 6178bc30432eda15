"""The generation gallery's store: every finished run, one PNG per solver branch, in the app data
folder (``<data>/gallery``).

Each PNG is a picture of the branch's samples (images: a grid; 2-D data: a scatter over the
density; more dimensions: the PCA projection) carrying the whole pipeline that made it
(:mod:`studio.core.pngmeta`) and a record of the run (seed, branch, solver, NFE, time) under
:data:`~.pngio.META_KEY`. Exporting an item copies its PNG; restoring reads the pipeline back.
Pictures are drawn and files read in a background thread; the store tells its views with signals.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from ...core.errors import StudioError
from ...core.pipeline import write_atomic
from ...core.untrusted import LIMITS, read_regular
from ...core.pngmeta import embed, encode_png
from ..jobs import Loader
from .pngio import META_KEY, portable, read_meta
from .render import MAX_IMAGES, sample_picture

#: items kept on disk (the oldest go first)
MAX_ITEMS = 200
#: points drawn in a scatter picture
MAX_POINTS = 5000
THUMB = 120
#: the samples of a picture, beside it (what the Edit workspace starts from)
SAMPLES_SUFFIX = ".samples.npy"


@dataclass
class GalleryItem:
    path: str
    meta: dict = field(default_factory=dict)
    thumb: QImage | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def samples_path(self) -> str:
        """The item's samples (``.samples.npy`` beside the picture, in the data's units; at most
        the points / images the picture shows)."""
        return samples_path(self.path)

    def has_samples(self) -> bool:
        return os.path.isfile(self.samples_path)

    def load_samples(self) -> np.ndarray:
        """The samples as saved (read through the untrusted-input boundary); StudioError if they
        are missing or unreadable."""
        from ...core.arrays import load_array
        if not self.has_samples():
            raise StudioError("this gallery picture has no saved samples (it was made before the "
                              "gallery kept them)", self.path)
        return load_array(self.samples_path, self.samples_path)

    def caption(self) -> str:
        """Two short lines: the branch (solver node), then the seed and the pipeline's name."""
        m = self.meta
        source = os.path.splitext(str(m.get("source") or ""))[0]
        return (f"{m.get('branch') or m.get('solver') or self.name}\nseed {m.get('seed', '?')}"
                + (f" · {source}" if source and source != "untitled" else ""))

    def summary(self) -> str:
        m = self.meta
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.get("created", 0)))
        parts = [f"branch {m.get('branch', '?')} ({m.get('title') or m.get('solver', '?')})",
                 f"seed {m.get('seed', '?')}", f"batch {m.get('batch', '?')}",
                 f"NFE {m.get('nfe', '?')}"]
        if m.get("seconds") is not None:
            parts.append(f"{float(m['seconds']):.2f} s")
        if m.get("source"):
            parts.append(f"from {m['source']}")
        return " · ".join(parts) + f"\n{when}"


def _thumb(png: bytes) -> QImage:
    img = QImage.fromData(png, "PNG")
    if img.isNull():
        return img
    return img.scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)


def samples_path(png_path: str) -> str:
    return os.path.splitext(png_path)[0] + SAMPLES_SUFFIX


def _write(path: str, samples: np.ndarray, mode: str, backdrop, pipeline: dict,
           meta: dict) -> GalleryItem:
    picture = sample_picture(samples, mode, backdrop)
    png = embed(encode_png(picture), pipeline, extra={META_KEY: json.dumps(meta)})
    buf = io.BytesIO()
    np.save(buf, np.asarray(samples, dtype=np.float32), allow_pickle=False)
    write_atomic(samples_path(path), buf.getvalue())     # first: a picture always has its samples
    write_atomic(path, png)
    return GalleryItem(path, meta, _thumb(png))


def _read_all(folder: str) -> list[GalleryItem]:
    items = []
    for path in list_pngs(folder):
        try:
            png = read_regular(path, path, max_bytes=LIMITS["png_bytes"])  # no FIFO blocks
        except StudioError:
            continue
        items.append(GalleryItem(path, read_meta(png), _thumb(png)))
    return items


def list_pngs(folder: str) -> list[str]:
    """The gallery's PNGs, newest first (names start with the time)."""
    try:
        names = [n for n in os.listdir(folder) if n.lower().endswith(".png") and not n.startswith(".")]
    except OSError:
        return []
    return [os.path.join(folder, n) for n in sorted(names, reverse=True)]


class GalleryStore(QObject):
    """The items (newest first) and the files behind them."""

    added = Signal(object)          # GalleryItem
    removed = Signal(object)        # GalleryItem
    reset = Signal()
    message = Signal(str)

    def __init__(self, folder: str, parent=None):
        super().__init__(parent)
        self.folder = folder
        self.items: list[GalleryItem] = []
        self._loader = Loader(self)
        self._serial = 0

    def load(self) -> None:
        """Read the gallery folder in the background (:attr:`reset` when done)."""
        folder = self.folder
        self._loader.submit(lambda: _read_all(folder), self._loaded)

    def wait(self, ms: int = 10000) -> bool:
        return self._loader.wait(ms)

    def _loaded(self, items: list | None, error: str = "") -> None:
        if error:
            self.message.emit(f"gallery: cannot read {self.folder}: {error}")
            return
        known = {i.path for i in self.items}
        self.items = sorted(self.items + [i for i in items if i.path not in known],
                            key=lambda i: i.name, reverse=True)
        self.reset.emit()

    def _added(self, path: str, item: GalleryItem | None, error: str) -> None:
        if error:   # a gallery picture must never break a run: a message, no item
            self.message.emit(f"gallery: cannot save {os.path.basename(path)}: {error}")
            return
        self.items.insert(0, item)
        self.added.emit(item)
        for old in self.items[MAX_ITEMS:]:
            self.delete(old)

    def capture(self, pipeline: dict, base_dir: str | None, info, results: dict,
                source: str = "") -> int:
        """Queue one gallery item per finished branch of a run; returns how many."""
        data = portable(pipeline, base_dir)
        mode = info.backdrop.mode
        n = 0
        os.makedirs(self.folder, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for branch in info.branches:
            res = results.get(branch)
            if res is None:
                continue
            limit = MAX_IMAGES if mode == "image" else MAX_POINTS
            samples = res.samples[:limit].detach().to("cpu").double().numpy()
            self._serial += 1
            slug = re.sub(r"[^A-Za-z0-9_-]+", "-", branch).strip("-")[:40] or "branch"
            path = os.path.join(self.folder, f"{stamp}-{os.getpid() % 100000:05d}"
                                             f"{self._serial:04d}-{slug}.png")
            node = (pipeline.get("nodes") or {}).get(branch, {})
            meta = {"format": "studio.gallery/1", "branch": branch, "solver": node.get("kind"),
                    "title": info.titles.get(branch, branch), "seed": int(info.seed),
                    "batch": int(info.batch), "nfe": int(res.nfe), "seconds": float(res.seconds),
                    "created": time.time(), "mode": mode, "data_shape": list(info.data_shape),
                    "source": source}
            args = (path, samples, mode, info.backdrop, data, meta)
            self._loader.submit(lambda a=args: _write(*a),
                                lambda item, error, p=path: self._added(p, item, error))
            n += 1
        return n

    def export(self, item: GalleryItem, path: str) -> None:
        """Write the item's PNG (pipeline included) to ``path``; raises OSError."""
        with open(item.path, "rb") as fh:
            write_atomic(path, fh.read())

    def delete(self, item: GalleryItem) -> None:
        if item in self.items:
            self.items.remove(item)
        for path in (item.path, item.samples_path):
            try:
                os.remove(path)
            except OSError:
                pass
        self.removed.emit(item)

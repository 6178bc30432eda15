"""The data density of the pipeline's network, computed in a background thread for the views to
show before any run (building a network can take a moment: a file to load, a PCA to compute)."""
from __future__ import annotations

import copy

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from ..core.pipeline import Node, build_plugin
from .backdrop import make_backdrop
from .specs import kind_title


class _Signals(QObject):
    done = Signal(int, object, str)   # generation, Backdrop or None, title


class _Job(QRunnable):
    def __init__(self, gen: int, node: dict, base_dir: str | None, signals: _Signals):
        super().__init__()
        self.gen, self.node, self.base_dir, self.signals = gen, node, base_dir, signals

    def run(self) -> None:
        try:
            net = build_plugin(Node("network", "network", self.node["kind"], self.node["params"]),
                               "network", self.base_dir)
            bd = make_backdrop(net)
        except Exception:  # noqa: BLE001 - no preview for a network that does not build
            bd = None
        try:
            self.signals.done.emit(self.gen, bd, kind_title("network", self.node["kind"]))
        except RuntimeError:  # the app is closing
            pass


class PreviewService(QObject):
    ready = Signal(object, str)        # Backdrop, title

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._done)
        self._gen = 0
        self._last_key = None
        self._pending = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._start)

    def request(self, node: dict | None, base_dir: str | None) -> None:
        if node is None:
            return
        key = repr((node["kind"], node["params"], base_dir))
        if key == self._last_key:
            return
        self._last_key = key
        self._pending = (copy.deepcopy(node), base_dir)
        self._timer.start()

    def _start(self) -> None:
        if self._pending is None:
            return
        self._gen += 1
        self._pool.start(_Job(self._gen, *self._pending, self._signals))
        self._pending = None

    def _done(self, gen: int, backdrop, title: str) -> None:
        if gen == self._gen and backdrop is not None:
            self.ready.emit(backdrop, title)

    def wait(self, ms: int = 5000) -> bool:
        self._timer.stop()
        return self._pool.waitForDone(ms)

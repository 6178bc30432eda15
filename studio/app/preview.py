"""The data density of the pipeline's network, computed in a background thread for the views to
show before any run (building a network can take a moment: a file to load, a PCA to compute)."""
from __future__ import annotations

import copy

from PySide6.QtCore import QObject, QTimer, Signal

from ..core.pipeline import Node, build_plugin
from .backdrop import make_backdrop
from .jobs import Loader
from .specs import kind_title


def _backdrop(node: dict, base_dir: str | None):
    net = build_plugin(Node("network", "network", node["kind"], node["params"]), "network", base_dir)
    return make_backdrop(net), kind_title("network", node["kind"])


class PreviewService(QObject):
    ready = Signal(object, str)        # Backdrop, title

    def __init__(self, parent=None):
        super().__init__(parent)
        self._loader = Loader(self)
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
        gen, (node, base_dir) = self._gen, self._pending
        self._loader.submit(lambda: _backdrop(node, base_dir),
                            lambda result, error: self._done(gen, result, error))
        self._pending = None

    def _done(self, gen: int, result, error: str) -> None:
        # no preview for a network that does not build (the inspector says why)
        if gen == self._gen and not error and result is not None:
            self.ready.emit(*result)

    def wait(self, ms: int = 5000) -> bool:
        self._timer.stop()
        return self._loader.wait(ms)

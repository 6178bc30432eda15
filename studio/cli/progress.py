"""A text progress bar on stderr, driven by the runner's step events."""
from __future__ import annotations

import sys
import time

from ..core.runner import StepEvent


class ProgressBar:
    def __init__(self, stream=None, width: int = 30, min_interval: float = 0.05):
        self.stream = stream or sys.stderr
        self.width, self.min_interval = width, min_interval
        self._last = 0.0
        self._branch = None

    def __call__(self, ev: StepEvent) -> None:
        now = time.monotonic()
        done = ev.index >= ev.steps
        if ev.branch != self._branch:
            self._branch = ev.branch
        elif not done and now - self._last < self.min_interval:
            return
        self._last = now
        frac = min(ev.fraction, 1.0)
        filled = int(round(frac * self.width))
        eta = ev.elapsed / frac - ev.elapsed if frac > 0 else 0.0
        line = (f"\r{ev.branch:>16} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{ev.index}/{ev.steps} t={ev.t:.4g} nfe={ev.nfe} {ev.elapsed:.1f}s"
                + (f" eta {eta:.1f}s" if not done else "   "))
        self.stream.write(line)
        if done:
            self.stream.write("\n")
        self.stream.flush()

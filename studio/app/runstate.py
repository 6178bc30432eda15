"""The state of a run as the views see it (Qt-free, thread-safe).

The worker thread appends one :class:`Frame` per engine step event; the views read the frames
when they repaint (at most ~60 times a second) and when the user scrubs a finished run. A frame
keeps what the views draw, not the whole batch: 2-D view coordinates of the displayed particles
(the PCA projection for D > 2) and, for image data, the first images.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .backdrop import Backdrop

#: particles kept per frame for the point views, and images for the image views
MAX_POINTS = 20000
MAX_IMAGES = 36


@dataclass
class Frame:
    index: int
    steps: int
    t: float
    sigma: float
    logsnr: float
    nfe: int
    elapsed: float
    step_seconds: float
    #: [n, 2] view coordinates of x_t and of the x0-prediction (None at the prior sample)
    xy: np.ndarray
    x0_xy: Optional[np.ndarray] = None
    #: image data: [m, *data_shape] of x_t and x0
    images: Optional[np.ndarray] = None
    x0_images: Optional[np.ndarray] = None
    #: the final denoised samples (the last frame of a run with denoise_final)
    final: bool = False

    @property
    def label(self) -> str:
        return "denoised" if self.final else f"step {self.index}/{self.steps}"


@dataclass
class BranchTrace:
    branch: str
    kind: str
    title: str
    steps: int = 0
    frames: list[Frame] = field(default_factory=list)
    result: object = None          # studio.core.runner.RunResult once finished

    def frame(self, i: int) -> Optional[Frame]:
        if not self.frames:
            return None
        return self.frames[max(0, min(i, len(self.frames) - 1))]


@dataclass
class RunInfo:
    """What the views need to set themselves up for a run."""

    branches: list[str]
    titles: dict[str, str]
    batch: int
    seed: int
    data_shape: tuple
    backdrop: Backdrop
    process: object
    network: object


class RunState:
    """Frames of every branch of the current (or last) run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.info: Optional[RunInfo] = None
        self.traces: dict[str, BranchTrace] = {}
        self.status = "idle"       # idle, running, finished, cancelled, failed
        self.message = ""
        self.generation = 0

    def begin(self, info: RunInfo, kinds: dict[str, str]) -> None:
        with self._lock:
            self.info = info
            self.traces = {b: BranchTrace(b, kinds[b], info.titles[b]) for b in info.branches}
            self.status = "running"
            self.message = ""
            self.generation += 1

    def add(self, branch: str, frame: Frame) -> None:
        with self._lock:
            tr = self.traces[branch]
            tr.steps = max(tr.steps, frame.steps)
            tr.frames.append(frame)

    def set_result(self, branch: str, result) -> None:
        with self._lock:
            self.traces[branch].result = result

    def end(self, status: str, message: str = "") -> None:
        with self._lock:
            self.status, self.message = status, message

    def reset(self) -> None:
        with self._lock:
            self.info, self.traces, self.status, self.message = None, {}, "idle", ""
            self.generation += 1

    # -- reading (UI thread) -------------------------------------------------------------------
    def snapshot(self) -> dict[str, tuple[int, Optional[Frame]]]:
        """branch -> (number of frames, latest frame)."""
        with self._lock:
            return {b: (len(tr.frames), tr.frames[-1] if tr.frames else None)
                    for b, tr in self.traces.items()}

    def frames(self, branch: str) -> list[Frame]:
        with self._lock:
            return list(self.traces[branch].frames) if branch in self.traces else []

    def total_frames(self) -> int:
        with self._lock:
            return sum(len(tr.frames) for tr in self.traces.values())

    def num_frames(self) -> int:
        with self._lock:
            return max((len(tr.frames) for tr in self.traces.values()), default=0)

    def progress(self) -> tuple[int, int]:
        """(steps done, steps in all) over every branch."""
        with self._lock:
            done = sum(tr.frames[-1].index if tr.frames else 0 for tr in self.traces.values())
            total = sum(tr.steps for tr in self.traces.values())
            return done, total

    def results(self) -> dict:
        with self._lock:
            return {b: tr.result for b, tr in self.traces.items() if tr.result is not None}

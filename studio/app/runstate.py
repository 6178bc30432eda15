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
#: particles a point view draws: a fixed random subset of the first MAX_POINTS of the batch (the
#: same particles at every step of a run, chosen from the run's seed), so that a 10,000-particle
#: run repaints as fast as a 3,000 one. The statistics of a frame (the zoom of "Follow particles")
#: and the run's results (samples, exports, gallery) use every particle.
DRAW_POINTS = 3000


def draw_subset(n: int, seed: int) -> np.ndarray | None:
    """Sorted indices of the :data:`DRAW_POINTS` of ``n`` particles a view draws (None: all)."""
    if n <= DRAW_POINTS:
        return None
    rng = np.random.default_rng(int(seed) % 2 ** 64)
    return np.sort(rng.choice(n, DRAW_POINTS, replace=False))


def finite_box(xy: np.ndarray) -> tuple[float, float, float, float] | None:
    """(xmin, ymin, xmax, ymax) of the finite rows of ``xy`` [n, 2]; None if there are none."""
    ok = np.isfinite(xy).all(1)
    if not ok.any():
        return None
    pts = xy if ok.all() else xy[ok]
    lo, hi = pts.min(0), pts.max(0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def spread_box(xy: np.ndarray) -> tuple[float, float, float, float] | None:
    """The 1st and 99th percentiles of the finite rows of ``xy`` per axis, as (x1, y1, x99, y99);
    None if there are none."""
    pts = xy[np.isfinite(xy).all(1)]
    if not len(pts):
        return None
    lo, hi = np.percentile(pts, [1, 99], axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


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
    #: [n, 2] view coordinates of the particles drawn (x_t; :data:`DRAW_POINTS` at most) and of
    #: their x0-prediction (None at the prior sample); rows may be NaN where a particle diverged
    xy: np.ndarray
    x0_xy: Optional[np.ndarray] = None
    #: image data: [m, *data_shape] of x_t and x0
    images: Optional[np.ndarray] = None
    x0_images: Optional[np.ndarray] = None
    #: the final denoised samples (the last frame of a run with denoise_final)
    final: bool = False
    #: computed in the worker thread, so that the UI thread does no pass over the points: the
    #: bounds of the finite drawn points of ``xy`` and ``x0_xy`` (:func:`finite_box`), and the
    #: spread of every kept particle (:func:`spread_box`), which "Follow particles" zooms to
    box: Optional[tuple] = None
    x0_box: Optional[tuple] = None
    spread: Optional[tuple] = None

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

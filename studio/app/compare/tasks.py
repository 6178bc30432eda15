"""Long computations of the comparison and diagnostics workspaces: the app's job service
(:mod:`studio.app.jobs`) under the names these workspaces use.

:class:`TaskRunner` runs one function at a time in a QThread. The function receives a
:class:`TaskContext`: it reports progress (``ctx.progress(fraction, text)``) and streams partial
results (``ctx.emit(item)``) without touching Qt; the runner re-emits both as throttled signals in
the UI thread. ``cancel()`` sets the engine's CancelToken. Whatever the function raises becomes a
``failed`` status with a readable message.
"""
from __future__ import annotations

from ..jobs import JobContext, JobRunner

TaskContext = JobContext


class TaskRunner(JobRunner):
    """A job runner whose out-of-memory advice fits grids, data sets and comparisons."""

    def __init__(self, parent=None, fps: float = 60.0):
        super().__init__(parent, fps, advice="make the problem smaller (batch, grid size, samples)")


__all__ = ["TaskContext", "TaskRunner"]

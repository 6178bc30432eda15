"""The trajectory panel: one live view per solver branch side by side, a time scrubber, exports.

It observes a :class:`~studio.app.runstate.RunState` through a
:class:`~studio.app.worker.RunController`'s signals: while a run streams it shows the latest frame
of every branch; after the run the scrubber (or Play) replays it step by step.
"""
from __future__ import annotations

import io
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSplitter,
                               QStyle, QVBoxLayout, QWidget)

from ...core.pipeline import write_atomic
from ..backdrop import Backdrop
from ..runstate import RunInfo, RunState
from .branch import BranchView, ImagesView, PointsView


class TrajectoryPanel(QWidget):
    message = Signal(str)

    def __init__(self, state: RunState, parent=None):
        super().__init__(parent)
        self.state = state
        self.info: RunInfo | None = None
        self.views: dict[str, BranchView] = {}
        self.live = False
        self.update_ms = self.update_cpu_ms = 0.0
        self._preview: Backdrop | None = None

        self.trails_box = QCheckBox("Trails")
        self.trails_box.setChecked(True)
        self.trails_box.setToolTip("Paths of 64 particles up to the current step")
        self.x0_box = QCheckBox("x0-predictions")
        self.x0_box.setToolTip("The denoiser's prediction of the clean data at the current step")
        self.velocity_box = QCheckBox("Velocity field")
        self.velocity_box.setToolTip("Where the probability-flow ODE moves points at the current t "
                                     "(2-D data)")
        self.follow_box = QCheckBox("Follow particles")
        self.follow_box.setChecked(True)
        self.follow_box.setToolTip("Zoom to the particles at every step (off: pan and zoom freely)")
        for box in (self.trails_box, self.x0_box, self.velocity_box, self.follow_box):
            box.toggled.connect(self._options_changed)
        self.png_button = QPushButton("Export PNG…")
        self.npz_button = QPushButton("Export NPZ…")
        self.png_button.setToolTip("Save the views as they are now")
        self.npz_button.setToolTip("Save the run: samples, times, NFE and trajectories per branch "
                                   "(the keys of `studio run --trajectory`)")
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        for w in (self.trails_box, self.x0_box, self.velocity_box, self.follow_box):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.png_button)
        top.addWidget(self.npz_button)

        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setChildrenCollapsible(False)

        self.play_button = QPushButton()
        self.play_button.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))
        self.play_button.setToolTip("Replay the run step by step")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.scrubber = QSlider(Qt.Horizontal)
        self.scrubber.setRange(0, 0)
        self.scrubber.setToolTip("Time scrubber: drag to replay the run step by step")
        self.scrubber.valueChanged.connect(self._scrubbed)
        self.step_label = QLabel("no run yet")
        self.step_label.setMinimumWidth(150)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(6, 0, 6, 4)
        bottom.addWidget(self.play_button)
        bottom.addWidget(self.scrubber, 1)
        bottom.addWidget(self.step_label)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.splitter, 1)
        lay.addLayout(bottom)

        self._player = QTimer(self)
        self._player.setInterval(120)
        self._player.timeout.connect(self._advance)
        self._sync_controls()

    # -- setting up ----------------------------------------------------------------------------
    def _clear(self) -> None:
        for v in self.views.values():
            v.setParent(None)
            v.deleteLater()
        self.views = {}

    def _make(self, branch: str, title: str, backdrop: Backdrop) -> BranchView:
        cls = ImagesView if backdrop.mode == "image" else PointsView
        view = cls(branch, title, backdrop)
        self.splitter.addWidget(view)
        self.views[branch] = view
        return view

    def set_preview(self, backdrop: Backdrop | None, title: str) -> None:
        """Before a run: the data density of the pipeline's network."""
        self._preview = backdrop
        if self.live or self.info is not None or backdrop is None:
            return
        self._clear()
        view = self._make("preview", title, backdrop)
        what = {"2d": "data density", "pca": "data density, PCA projection",
                "image": "image data"}[backdrop.mode]
        view.header.setText(f"<b>{title}</b><br><span style='color:#8a949e'>{what} · press Run "
                            "(Ctrl+R) to sample</span>")
        self._apply_options()
        self._sync_controls()

    def on_started(self, info: RunInfo) -> None:
        self.info = info
        self.live = True
        self.play_button.setChecked(False)
        self._clear()
        views = [self._make(b, info.titles[b] + (f" [{b}]" if len(info.branches) > 1 else ""),
                            info.backdrop) for b in info.branches]
        first = next((v for v in views if isinstance(v, PointsView)), None)
        for v in views:
            if isinstance(v, PointsView):
                v.set_model(info.network, info.process)
                if v is not first:
                    v.plot.setXLink(first.plot)
                    v.plot.setYLink(first.plot)
        self._apply_options()
        self.splitter.setSizes([1000] * len(views))
        self._sync_controls()
        self.on_updated()

    def cost_ms(self) -> float:
        """What the last live update cost the UI thread: building it plus repainting."""
        return self.update_ms + sum(v.paint_ms() for v in self.views.values())

    def on_updated(self) -> None:
        if not self.live:
            return
        t0, c0 = time.perf_counter(), time.thread_time()
        n = self.state.num_frames()
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(n - 1, 0))
        self.scrubber.setValue(max(n - 1, 0))
        self.scrubber.blockSignals(False)
        self.show_frame(-1)
        self.update_ms = (time.perf_counter() - t0) * 1e3
        self.update_cpu_ms = (time.thread_time() - c0) * 1e3

    def on_finished(self, status: str) -> None:
        self.live = False
        if self.info is None:
            return
        n = self.state.num_frames()
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(n - 1, 0))
        self.scrubber.setValue(max(n - 1, 0))
        self.scrubber.blockSignals(False)
        self.show_frame(-1)
        self._sync_controls()

    # -- showing frames ------------------------------------------------------------------------
    def show_frame(self, i: int) -> None:
        """Frame ``i`` of every branch (-1: the latest); branches with fewer frames show their last."""
        label = ""
        if self.info is None:      # the density preview: nothing to show yet
            return
        for b, view in self.views.items():
            frames = self.state.frames(b)
            if not frames:
                view.show_frame(None)
                continue
            k = len(frames) - 1 if i < 0 else min(i, len(frames) - 1)
            trail = [f for f in frames[:k + 1] if not f.final] if view_trails(view) else None
            view.show_frame(frames[k], trail)
            label = label or frames[k].label
        self.step_label.setText(label or "no run yet")

    def _scrubbed(self, value: int) -> None:
        if not self.live:
            self.show_frame(value)

    def _play_toggled(self, on: bool) -> None:
        icon = QStyle.SP_MediaPause if on else QStyle.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        if on:
            if self.scrubber.value() >= self.scrubber.maximum():
                self.scrubber.setValue(0)
            self._player.start()
        else:
            self._player.stop()

    def _advance(self) -> None:
        if self.scrubber.value() >= self.scrubber.maximum():
            self.play_button.setChecked(False)
            return
        self.scrubber.setValue(self.scrubber.value() + 1)

    def _options_changed(self) -> None:
        self._apply_options()
        if self.views and self.info is not None:
            self.show_frame(-1 if self.live else self.scrubber.value())

    def _apply_options(self) -> None:
        for v in self.views.values():
            if isinstance(v, PointsView):
                v.show_trails = self.trails_box.isChecked()
                v.show_x0 = self.x0_box.isChecked()
                v.show_velocity = self.velocity_box.isChecked()
                v.follow = self.follow_box.isChecked()
                if not v.follow and self.info is None:
                    v.reset_range()

    def _sync_controls(self) -> None:
        has_run = self.info is not None and not self.live
        self.play_button.setEnabled(has_run)
        self.scrubber.setEnabled(has_run)
        self.npz_button.setEnabled(has_run and bool(self.state.results()))
        mode = next(iter(self.views.values())).backdrop.mode if self.views else "2d"
        for box in (self.trails_box, self.x0_box, self.follow_box):
            box.setEnabled(mode != "image")
        self.velocity_box.setEnabled(mode == "2d")

    # -- exports -------------------------------------------------------------------------------
    def export_png(self, path: str) -> None:
        if not self.splitter.grab().save(path, "PNG"):
            raise OSError(f"cannot write {path}")

    def export_npz(self, path: str) -> None:
        out = {}
        for sid, res in self.state.results().items():
            out[f"{sid}.samples"] = res.samples.numpy()
            out[f"{sid}.nfe"] = np.asarray(res.nfe)
            out[f"{sid}.t"] = res.t.numpy()
            if res.trajectory is not None:
                out[f"{sid}.trajectory"] = res.trajectory.numpy()
            if res.x0 is not None:
                out[f"{sid}.x0"] = res.x0.numpy()
            if getattr(res, "latents", None) is not None:
                out[f"{sid}.latents"] = res.latents.float().numpy()
        if not out:
            raise ValueError("no finished run to export")
        buf = io.BytesIO()
        np.savez(buf, **out)
        write_atomic(path, buf.getvalue())

    # -- for tests and automation ---------------------------------------------------------------
    def displayed_points(self, branch: str) -> np.ndarray:
        view = self.views[branch]
        return view.particles.data() if isinstance(view, PointsView) else view.pixels()


def view_trails(view: BranchView) -> bool:
    return isinstance(view, PointsView) and view.show_trails

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
        #: point views of earlier runs, hidden, for the next run to reuse (see PointsView.configure)
        self._spare: list[PointsView] = []
        #: (branch, title) of the views still to make for this run: one per event-loop turn, so
        #: that starting a run with many branches never stalls the UI for all of them at once
        self._to_make: list[tuple[str, str]] = []
        self._make_timer = QTimer(self)
        self._make_timer.setSingleShot(True)
        self._make_timer.setInterval(0)
        self._make_timer.timeout.connect(self._make_next)
        #: how many point views the pipeline's branches need (made ahead, see prepare_views)
        self._wanted = 0
        self._spare_timer = QTimer(self)
        self._spare_timer.setSingleShot(True)
        self._spare_timer.setInterval(0)
        self._spare_timer.timeout.connect(self._make_spare)
        self.live = False
        self.update_ms = self.update_cpu_ms = 0.0
        #: the views the last live update changed (its cost is theirs to repaint), and whose turn
        #: it was
        self.painted: list[BranchView] = []
        self._turn = -1
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
        self._to_make = []
        self.painted = []
        for v in self.views.values():
            if isinstance(v, PointsView):
                v.hide()
                v.plot.setXLink(None)
                v.plot.setYLink(None)
                self._spare.append(v)
            else:
                v.setParent(None)
                v.deleteLater()
        self.views = {}

    def _make(self, branch: str, title: str, backdrop: Backdrop,
              new: bool = True) -> BranchView | None:
        """The view of ``branch``: a spare one reconfigured, else (unless ``new`` is False) a new
        one; None if there is no spare and ``new`` is False."""
        if backdrop.mode != "image" and self._spare:
            view = self._spare.pop()
            view.configure(branch, title, backdrop)
            view.show()
        elif not new:
            return None
        else:
            view = (ImagesView if backdrop.mode == "image" else PointsView)(branch, title, backdrop)
        self.splitter.addWidget(view)      # (moves a spare one to the end)
        self.views[branch] = view
        return view

    def _link(self, view: BranchView) -> None:
        """A point view of the run: its model, its axes linked to the first point view's."""
        if not isinstance(view, PointsView) or self.info is None:
            return
        view.set_model(self.info.network, self.info.process)
        first = next((v for v in self.views.values() if isinstance(v, PointsView)), None)
        if first is not None and first is not view:
            view.plot.setXLink(first.plot)
            view.plot.setYLink(first.plot)

    def _even_sizes(self) -> None:
        """The views of the run side by side, equally wide (the hidden spare ones take none)."""
        sp = self.splitter
        sp.setSizes([0 if sp.widget(i).isHidden() else 1000 for i in range(sp.count())])

    def _make_next(self) -> None:
        """Make the next view still missing for this run (one per event-loop turn)."""
        if not self._to_make or self.info is None:
            return
        branch, title = self._to_make.pop(0)
        view = self._make(branch, title, self.info.backdrop)
        self._link(view)
        self._apply_options()
        self._even_sizes()
        if self._to_make:
            self._make_timer.start()
        frames = self.state.frames(branch)
        if frames:
            self._show_branch(branch, view, frames, -1 if self.live else self.scrubber.value())

    def prepare_views(self, branches: int) -> None:
        """The pipeline has ``branches`` solver branches: make the point views a run of it will
        need ahead, while the user edits (one per event-loop turn, hidden), so that starting
        the run does not stall the UI making plots."""
        self._wanted = max(0, int(branches))
        if not self._spare_timer.isActive():
            self._spare_timer.start()

    def point_views(self) -> list[PointsView]:
        """The point views made so far: those of the run (or preview) and the spare ones."""
        return [v for v in self.views.values() if isinstance(v, PointsView)] + self._spare

    def _make_spare(self) -> None:
        have = len(self.point_views())
        backdrop = self._preview
        if (self.live or have >= self._wanted or backdrop is None or backdrop.mode == "image"):
            return
        view = PointsView("spare", "", backdrop)
        view.hide()
        self.splitter.addWidget(view)
        self._spare.append(view)
        self._spare_timer.start()

    def set_preview(self, backdrop: Backdrop | None, title: str) -> None:
        """Before a run: the data density of the pipeline's network."""
        self._preview = backdrop
        if not self._spare_timer.isActive():
            self._spare_timer.start()         # views for the branches, now that the data is known
        if self.live or self.info is not None or backdrop is None:
            return
        self._clear()
        view = self._make("preview", title, backdrop)
        what = {"2d": "data density", "pca": "data density, PCA projection",
                "image": "image data"}[backdrop.mode]
        view.set_header(f"{what} · press Run (Ctrl+R) to sample", muted=True)
        self._apply_options()
        self._sync_controls()

    def on_started(self, info: RunInfo) -> None:
        self.info = info
        self.live = True
        self.play_button.setChecked(False)
        self._clear()
        titles = [(b, info.titles[b] + (f" [{b}]" if len(info.branches) > 1 else ""))
                  for b in info.branches]
        # the spare views now, at least one view now, the others one per event-loop turn
        for k, (b, title) in enumerate(titles):
            view = self._make(b, title, info.backdrop, new=k == 0)
            if view is None:
                self._to_make = titles[k:]
                self._make_timer.start()
                break
            self._link(view)
        self._apply_options()
        self._even_sizes()
        self._sync_controls()
        self.on_updated()

    def cost_ms(self) -> float:
        """What the last live update cost the UI thread: building it plus repainting the views
        it changed."""
        return self.update_ms + sum(v.paint_ms() for v in self.painted)

    def on_updated(self) -> None:
        """A live update: the latest frame of one branch view, the next one at the next update
        (round-robin), so that one update repaints one plot and the event loop is never held for
        all of them at once; the controller spaces updates by their measured cost."""
        if not self.live:
            return
        t0, c0 = time.perf_counter(), time.thread_time()
        n = self.state.num_frames()
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, max(n - 1, 0))
        self.scrubber.setValue(max(n - 1, 0))
        self.scrubber.blockSignals(False)
        views = list(self.views.items())
        if views:
            self._turn = (self._turn + 1) % len(views)
            b, view = views[self._turn]
            self._show_branch(b, view, self.state.frames(b), -1)
            self.painted = [view]
            self._follow(settle=True)
            first = self.state.frames(views[0][0])
            self.step_label.setText(first[-1].label if first else "starting…")
        self.update_ms = (time.perf_counter() - t0) * 1e3
        self.update_cpu_ms = (time.thread_time() - c0) * 1e3

    def on_finished(self, status: str) -> None:
        self.live = False
        if self.info is None:
            return
        self._make_timer.stop()
        while self._to_make:          # a short run: the views not made yet, now
            self._make_next()
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
            shown = self._show_branch(b, view, self.state.frames(b), i)
            label = label or shown
        self._follow()
        self.step_label.setText(label or "no run yet")

    def _follow(self, settle: bool = False) -> None:
        """"Follow particles": one zoom for the linked point views, to the particles of every
        branch's frame shown (so that branches updated in turn never pull it back and forth)."""
        views = [v for v in self.views.values() if isinstance(v, PointsView)]
        if not views or not views[0].follow:
            return
        spreads = [v.frame.spread for v in views if v.frame is not None and v.frame.spread]
        if spreads:
            views[0].follow_to((min(s[0] for s in spreads), min(s[1] for s in spreads),
                                max(s[2] for s in spreads), max(s[3] for s in spreads)), settle)

    def _show_branch(self, branch: str, view: BranchView, frames: list, i: int) -> str:
        """Frame ``i`` (-1: the latest) of ``frames`` in ``view``; the frame's label."""
        if not frames:
            view.show_frame(None)
            return ""
        k = len(frames) - 1 if i < 0 else min(i, len(frames) - 1)
        trail = [f for f in frames[:k + 1] if not f.final] if view_trails(view) else None
        view.show_frame(frames[k], trail)
        return frames[k].label

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

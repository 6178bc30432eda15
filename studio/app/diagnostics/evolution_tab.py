"""Density evolution tab (2-D models): log p_t as a heatmap over time with a slider (and Play),
the particles of a run of the pipeline's first solver on top, and the probability-flow velocity
as arrows. Exact p_t for analytic models, a Gaussian KDE of the particles otherwise."""
from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox,
                               QStyle, QVBoxLayout, QWidget)

from ...core.diagnostics import density_grid, velocity_grid
from ...core.errors import ParamError
from .density_tab import DYNAMIC_RANGE
from .heatmap import MUTED, Heatmap
from .model import load, square_limits

MAX_SHOWN = 3000


def _union(a, b):
    """The smallest square window holding both square windows (centred on ``b``)."""
    (ax0, ax1), (ay0, ay1) = a
    (bx0, bx1), (by0, by1) = b
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    half = max(abs(v - cx) for v in (ax0, ax1, bx0, bx1))
    half = max(half, *(abs(v - cy) for v in (ay0, ay1, by0, by1)))
    return (cx - half, cx + half), (cy - half, cy + half)


class EvolutionTab(QWidget):
    def __init__(self, panel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.frames: list[dict] = []
        self.particles = QSpinBox()
        self.particles.setRange(10, 200000)
        self.particles.setValue(1000)
        self.particles.setToolTip("Particles of the run (and of the KDE for trained models)")
        self.n_frames = QSpinBox()
        self.n_frames.setRange(2, 400)
        self.n_frames.setValue(16)
        self.n_frames.setToolTip("Frames: times of the solver's steps, at most this many")
        self.grid_n = QSpinBox()
        self.grid_n.setRange(16, 256)
        self.grid_n.setValue(64)
        self.grid_n.setToolTip("Grid points per side (a KDE costs grid² x particles per frame)")
        self.follow = QCheckBox("zoom with t")
        self.follow.setChecked(True)
        self.follow.setToolTip("Each frame's window holds its particles (on: the noise is seen "
                               "shrinking; off: the data's window throughout)")
        self.arrows = QCheckBox("velocity")
        self.arrows.setChecked(True)
        self.arrows.setToolTip("Where the probability-flow ODE moves points at each frame's t "
                               "(towards the data)")
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        for w in (QLabel("particles"), self.particles, QLabel("frames"), self.n_frames,
                  QLabel("grid"), self.grid_n, self.follow, self.arrows):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.compute_button)
        self.map = Heatmap("log p_t", unit="nats")
        self.play = QPushButton()
        self.play.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))
        self.play.setCheckable(True)
        self.play.setToolTip("Play the evolution from noise to data")
        self.play.toggled.connect(self._play)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Time: from the prior (left) to the data (right)")
        self.slider.valueChanged.connect(self.show_frame)
        self.label = QLabel("")
        self.label.setMinimumWidth(260)
        self.label.setStyleSheet(f"color: {MUTED};")
        bottom = QHBoxLayout()
        bottom.setContentsMargins(6, 0, 6, 2)
        bottom.addWidget(self.play)
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.map, 1)
        lay.addLayout(bottom)
        self._timer = QTimer(self)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._advance)
        self.play.setEnabled(False)

    def set_busy(self, busy: bool) -> None:
        self.compute_button.setEnabled(not busy)

    def compute(self) -> bool:
        n_p, n_f, n, follow, arrows = (int(self.particles.value()), int(self.n_frames.value()),
                                       int(self.grid_n.value()), self.follow.isChecked(),
                                       self.arrows.isChecked())

        def task(ctx, pipe):
            m = load(pipe)
            if not m.is_2d:
                raise ParamError(f"needs a 2-D model; this network's data shape is "
                                 f"{list(m.shape)}", "network")
            ctx.progress(0.0, "running the pipeline's first solver")
            res, _ = m.samples(n_p, cancel=ctx.cancel, record=True)
            traj, ts = res.trajectory.to(torch.float64), res.t.numpy()
            idx = np.unique(np.linspace(0, len(ts) - 1, min(n_f, len(ts))).round().astype(int))
            home = square_limits(traj[-1].numpy())
            frames = []
            for j, i in enumerate(idx):
                ctx.check()
                ctx.progress((j + 1) / (len(idx) + 1), f"frame {j + 1}/{len(idx)}"
                             + ("" if m.exact else " (KDE)"))
                pts = traj[i]
                xlim, ylim = _union(square_limits(pts.numpy()), home) if follow else home
                grid = density_grid(m.den, float(ts[i]), xlim, ylim, n,
                                    particles=None if m.exact else pts)
                vel = velocity_grid(m.den, float(ts[i]), xlim, ylim, 21) if arrows else None
                sigma = float(m.process.sigma_edm(torch.as_tensor(ts[i], dtype=torch.float64)))
                frames.append({"t": float(ts[i]), "sigma": sigma, "step": int(i),
                               "steps": len(ts) - 1, "grid": grid, "velocity": vel,
                               "particles": pts.numpy()[:MAX_SHOWN]})
            return frames

        return self.panel.start("density evolution", task, self.show_result)

    def show_result(self, frames: list) -> None:
        self.frames = frames
        self.play.setEnabled(bool(frames))
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(frames) - 1, 0))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.show_frame(0)

    def show_frame(self, k: int) -> None:
        if not self.frames:
            return
        f = self.frames[max(0, min(k, len(self.frames) - 1))]
        g = f["grid"]
        top = float(np.nanmax(g.values[np.isfinite(g.values)])) if np.isfinite(g.values).any() else 0
        self.map.set_grid(g, (top - DYNAMIC_RANGE, top))
        self.map.set_particles(f["particles"])
        self.map.set_arrows(f["velocity"])
        how = "exact" if g.method == "exact" else "Gaussian KDE of the particles"
        self.map.set_title(f"<b>log p_t</b> at t = {f['t']:.4g} <span style='color:{MUTED}'>"
                           f"({how}; particles of the pipeline's first solver)</span>")
        self.label.setText(f"step {f['step']}/{f['steps']} · t {f['t']:.4g} · σ {f['sigma']:.4g}")

    def _play(self, on: bool) -> None:
        icon = QStyle.SP_MediaPause if on else QStyle.SP_MediaPlay
        self.play.setIcon(self.style().standardIcon(icon))
        if on:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)

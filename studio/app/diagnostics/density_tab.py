"""Log-density tab (2-D models): the model's log p at t_min on a grid, each point's likelihood
through the probability-flow ODE, beside the exact log-density of an analytic model and their
difference."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ...core.diagnostics import Grid2D, density_grid
from ...core.errors import ParamError
from ...core.likelihood import LikelihoodSettings, log_density_grid
from .heatmap import MUTED, Heatmap
from .model import load, square_limits

#: log-densities more than this many nats below the peak share the lowest colour
DYNAMIC_RANGE = 12.0


class DensityTab(QWidget):
    def __init__(self, panel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.result = None
        self.n = QSpinBox()
        self.n.setRange(4, 256)
        self.n.setValue(32)
        self.n.setToolTip("Grid points per side (each one is an ODE solve: cost grows as n²)")
        self.tol = QComboBox()
        for v in ("1e-3", "1e-4", "1e-5", "1e-6", "1e-7"):
            self.tol.addItem(v, float(v))
        self.tol.setCurrentIndex(1)
        self.tol.setToolTip("rtol = atol of the adaptive ODE solve")
        self.exact_prior = QCheckBox("exact prior")
        self.exact_prior.setToolTip("Analytic models: use the model's own density at t_max as the "
                                    "prior (isolates the ODE integration from the prior mismatch)")
        self.compute_button = QPushButton("Compute log-density")
        self.compute_button.clicked.connect(self.compute)
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        for w in (QLabel("grid"), self.n, QLabel("tolerance"), self.tol, self.exact_prior):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.compute_button)
        self.model_map = Heatmap("<b>model</b> log p (probability-flow ODE)", unit="nats")
        self.exact_map = Heatmap("<b>exact</b> log p", unit="nats")
        self.error_map = Heatmap("|model − exact|", cmap="inferno", unit="nats")
        maps = QHBoxLayout()
        for m in (self.model_map, self.exact_map, self.error_map):
            maps.addWidget(m, 1)
        self.caption = QLabel("For 2-D models: each grid point's log-likelihood through the "
                              "probability-flow ODE, beside the exact density of an analytic model.")
        self.caption.setTextFormat(Qt.RichText)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("padding: 2px 6px;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(maps, 1)
        lay.addWidget(self.caption)
        for m in (self.model_map, self.exact_map):
            m.plot.setXLink(self.error_map.plot)
            m.plot.setYLink(self.error_map.plot)

    def set_busy(self, busy: bool) -> None:
        self.compute_button.setEnabled(not busy)

    def compute(self) -> bool:
        n, tol, exact_prior = int(self.n.value()), float(self.tol.currentData()), \
            self.exact_prior.isChecked()

        def task(ctx, pipe):
            m = load(pipe)
            m.require_gradients("log-density (the divergence of the ODE's velocity)")
            if not m.is_2d:
                raise ParamError(f"needs a 2-D model; this network's data shape is "
                                 f"{list(m.shape)}", "network")
            if exact_prior and not m.exact:
                raise ParamError("the exact prior needs an analytic network with a density",
                                 "prior")
            ctx.progress(0.0, "finding the data's extent")
            data, _ = m.data(2000, seed=1, cancel=ctx.cancel)
            xlim, ylim = square_limits(data.numpy())
            s = LikelihoodSettings(dequantize="none", rtol=tol, atol=tol, batch_size=n * n,
                                   prior="exact" if exact_prior else "standard")

            def on(done, total, frac):
                ctx.progress(frac, f"ODE solve of the grid {frac:.0%}")

            model = log_density_grid(m.den, xlim, ylim, n, s, cancel=ctx.cancel, on_progress=on,
                                     device=m.built.device())
            exact = density_grid(m.den, float(m.process.t_min), xlim, ylim, n) if m.exact else None
            return {"model": model, "exact": exact, "data": data.numpy()[:600]}

        return self.panel.start("log-density", task, self.show_result)

    def show_result(self, out: dict) -> None:
        self.result = out
        model, exact = out["model"], out["exact"]
        top = float(np.nanmax(model.values if exact is None else
                              np.maximum(model.values, exact.values)))
        levels = (top - DYNAMIC_RANGE, top)
        self.model_map.set_grid(model, levels)
        self.model_map.set_title(f"<b>model</b> log p at t = {model.t:.3g} "
                                 f"<span style='color:{MUTED}'>({model.method})</span>")
        if exact is None:
            self.exact_map.clear("no exact density\n(trained network)")
            self.error_map.clear("")
            self.caption.setText("The network has no exact density to compare with: the model's "
                                 "log-density is shown alone.")
            return
        self.exact_map.set_grid(exact, levels)
        self.exact_map.set_title(f"<b>exact</b> log p at t = {exact.t:.3g}")
        err = np.abs(model.values - exact.values)
        self.error_map.set_grid(Grid2D(model.xs, model.ys, err, model.t, "abs error"))
        mass = exact.values > top - 6.0
        in_mass = f"{err[mass].mean():.2g}" if mass.any() else "n/a"
        self.caption.setText(f"|model − exact| over the grid: mean <b>{err.mean():.2g}</b> nats, "
                             f"max {err.max():.2g}; where the density is within 6 nats of its "
                             f"peak: mean {in_mass} nats. Colours span {DYNAMIC_RANGE:g} nats "
                             "below the peak.")

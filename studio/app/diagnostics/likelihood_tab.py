"""Likelihood tab: the NLL of a data set (a .npy file, or samples of the model) through the
probability-flow ODE, its histogram, and for analytic models the exact NLL beside it."""
from __future__ import annotations

import io
import os

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QScrollArea, QSpinBox, QSplitter,
                               QToolButton, QVBoxLayout, QWidget)

from ...core.errors import ParamError, StudioError
from ...core.likelihood import LikelihoodSettings, log_likelihood
from ...core.pipeline import write_atomic
from .heatmap import MUTED, style_axes
from .model import load
from .panel import ParamsForm
from ..colors import current

MODEL, FILE = "model", "file"


def read_data(path: str) -> torch.Tensor:
    """A .npy data set (uint8 kept as levels: the likelihood maps them to the data range)."""
    if not path:
        raise ParamError("choose a .npy file", "data")
    from ...core.untrusted import load_npy
    arr = load_npy(path, f"data {path}", ParamError)
    if arr.dtype.kind not in "fiu":
        raise ParamError(f"expected a numeric array, got dtype {arr.dtype}", "data")
    return torch.as_tensor(arr if arr.dtype == np.uint8 else arr.astype(np.float64))


class LikelihoodTab(QWidget):
    def __init__(self, panel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.result: dict | None = None
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(6, 6, 6, 6)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.source = QComboBox()
        self.source.addItem("samples of the model", MODEL)
        self.source.addItem("a data file (.npy)", FILE)
        self.source.setToolTip("What to evaluate: exact samples of an analytic model (a trained "
                               "one is sampled with the pipeline's solver), or a data set")
        form.addRow("data", self.source)
        self.count = QSpinBox()
        self.count.setRange(1, 1_000_000)
        self.count.setValue(256)
        self.count.setToolTip("Samples (of the model, or the first of the file)")
        form.addRow("samples", self.count)
        self.path = QLineEdit()
        self.path.setPlaceholderText("[N, *data_shape] .npy")
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("file", row)
        cl.addLayout(form)
        self.settings = ParamsForm(LikelihoodSettings, "likelihood")
        cl.addWidget(self.settings)
        self.compute_button = QPushButton("Compute NLL")
        self.compute_button.clicked.connect(self.compute)
        self.export_button = QPushButton("Save NLL…")
        self.export_button.setToolTip("Per-sample results as .npz (the keys of `studio nll`)")
        self.export_button.clicked.connect(self._export_dialog)
        self.export_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(self.compute_button)
        cl.addLayout(buttons)
        cl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(280)

        self.summary = QLabel("Compute the negative log-likelihood of a data set under the "
                              "model: the probability-flow ODE with the instantaneous change of "
                              "variables, solved adaptively.")
        self.summary.setTextFormat(Qt.RichText)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.summary.setStyleSheet("padding: 4px;")
        self.hist = pg.PlotWidget(background=current().plot)
        self.hist.setMenuEnabled(False)
        self.hist.hideButtons()
        style_axes(self.hist.getPlotItem())
        self.hist.setLabel("bottom", "NLL per sample [nats]", color=MUTED)
        self.hist.setLabel("left", "samples", color=MUTED)
        self.legend = self.hist.addLegend(offset=(-8, 8), labelTextColor=current().text)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.summary)
        rl.addWidget(self.hist, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([320, 700])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.source.currentIndexChanged.connect(self._source_changed)
        self._source_changed()

    def set_busy(self, busy: bool) -> None:
        self.compute_button.setEnabled(not busy)

    def _source_changed(self, *_) -> None:
        self.path.setEnabled(self.source.currentData() == FILE)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Data set", self.panel.window.doc.base_dir or "",
                                              "NumPy arrays (*.npy);;All files (*)")
        if path:
            self.path.setText(path)
            self.source.setCurrentIndex(self.source.findData(FILE))

    # -- computing -------------------------------------------------------------------------------
    def compute(self) -> bool:
        try:
            settings = self.settings.build()
            data = read_data(self.path.text().strip()) if self.source.currentData() == FILE else None
        except StudioError as exc:
            self.panel.report("likelihood", exc)
            return False
        n = int(self.count.value())
        origin_file = os.path.basename(self.path.text().strip())

        def task(ctx, pipe):
            m = load(pipe)
            m.require_gradients("likelihood (the divergence of the ODE's velocity)")
            if data is not None:
                x, origin = data[:n], f"{min(n, len(data))} samples of {origin_file}"
            else:
                ctx.progress(0.0, "drawing samples")
                x, origin = m.data(n, seed=settings.seed + 1, cancel=ctx.cancel)
            labels = _labels(m.den, len(x))
            bs = settings.batch_size

            def on(done, total, frac):
                ctx.progress((done + frac * min(bs, total - done)) / total, f"{done}/{total} samples")

            res = log_likelihood(m.den, x, settings, labels=labels, device=m.built.device(),
                                 cancel=ctx.cancel, on_progress=on)
            exact = None
            if m.exact and x.dtype != torch.uint8:
                with torch.no_grad():
                    exact = -m.network.log_prob(x.to(torch.float64), float(m.process.t_min),
                                                m.process).double().numpy()
            return {"res": res, "exact": exact, "origin": origin}

        return self.panel.start("likelihood", task, self.show_result)

    def show_result(self, out: dict) -> None:
        self.result = out
        res, exact = out["res"], out["exact"]
        s = res.summary()
        lines = [f"<b>NLL {s['nll_mean']:.5g} ± {s['nll_stderr']:.2g} nats</b> per sample "
                 f"({s['samples']} samples: {out['origin']})"]
        if res.bpd is not None:
            lines.append(f"<b>{s['bpd_mean']:.4g} bits/dim</b> (dequantised, {res.dim} dimensions)")
        if exact is not None:
            err = np.abs(res.nll - exact)
            lines.append(f"exact NLL (the analytic density at t_min) {exact.mean():.5g} nats · "
                         f"mean |error| <b>{err.mean():.2g}</b> nats, max {err.max():.2g}")
        lines.append(f"<span style='color:{MUTED}'>{res.method}; {res.nfe} evaluations, "
                     f"{res.steps} steps, {res.seconds:.2f} s</span>")
        self.summary.setText("<br>".join(lines))
        self.hist.clear()
        self.legend.clear()
        vals = [res.nll] + ([exact] if exact is not None else [])
        allv = np.concatenate(vals)
        allv = allv[np.isfinite(allv)]
        if allv.size:
            lo, hi = np.percentile(allv, [0.5, 99.5])
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
            h, _ = np.histogram(res.nll, bins=bins)
            self.hist.plot(bins, h, stepMode="center", fillLevel=0, brush=(255, 196, 64, 90),
                           pen=pg.mkPen("#ffc440", width=1.5), name="model (PF-ODE)")
            if exact is not None:
                h, _ = np.histogram(exact, bins=bins)
                self.hist.plot(bins, h, stepMode="center", pen=pg.mkPen("#6cb4ff", width=1.5,
                                                                         style=Qt.DashLine),
                               name="exact")
        self.export_button.setEnabled(True)

    # -- export ----------------------------------------------------------------------------------
    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save NLL", os.path.join(
            self.panel.window.doc.base_dir or os.getcwd(), "nll.npz"), "NumPy archives (*.npz)")
        if path:
            self.export(path)

    def export(self, path: str) -> bool:
        if self.result is None:
            return False
        res = self.result["res"]
        out = {"nll": res.nll, "prior_logp": res.prior_logp, "delta_logp": res.delta_logp,
               "nfe": np.asarray(res.nfe)}
        if res.bpd is not None:
            out["bpd"] = res.bpd
        if self.result["exact"] is not None:
            out["exact_nll"] = self.result["exact"]
        buf = io.BytesIO()
        np.savez(buf, **out)
        try:
            write_atomic(path, buf.getvalue())
        except OSError as exc:
            self.panel.window.report("Cannot save", f"{path}: {exc.strerror or exc}")
            return False
        self.panel.window.log.ok(f"saved {path}")
        return True


def _labels(den, n: int):
    """Per-sample labels for a class-conditional run with one label (None: unconditional)."""
    lab = den.labels
    if lab is None:
        return None
    values = torch.unique(lab.cpu())
    if len(values) != 1:
        raise ParamError("the run gives different labels per sample; the likelihood of a data "
                         "set needs one label for all (set labels to one integer)", "run.labels")
    return torch.full((n,), int(values[0]), dtype=torch.long)


__all__ = ["LikelihoodTab", "read_data"]

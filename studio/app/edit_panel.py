"""The Edit workspace: invert a point set to noise, change the condition, regenerate from the
inverted noise, and compare side by side (a self-contained widget).

The prior is one of the catalog's 2-D Gaussian mixtures, whose components are exact classes (the
``classifier`` guidance with the exact classifier). The points to edit are a sample of one
component, or a ``.npy`` file of 2-D points. *Invert & regenerate* runs
:func:`studio.core.edit.invert_and_regenerate` in a background thread: the points are inverted
with the chosen ODE solver (no guidance), regenerated unchanged (the reconstruction, with its RMSE)
and with classifier guidance towards the chosen label at the chosen scale. In the *SDEdit* mode
the points are instead forward-noised to time t and sampled back from there (``run.start``,
Meng et al. 2022) with the new label (the reconstruction pane then shows the same without the
label). Three plots show the original points, the reconstruction and the edit, over the prior's
component means.
"""
from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..core.errors import StudioError
from .jobs import start_thread
from .colors import current

SOLVERS = {"dopri5 (adaptive, exact round trip)": ("dopri5", {"rtol": 1e-8, "atol": 1e-8}),
           "DDIM (eta 0), 50 steps": ("ddim", {"steps": 50, "eta": 0.0}),
           "Heun, 20 steps": ("heun", {"steps": 20})}
PANES = ("Original", "Reconstruction (same condition)", "Edited (new label)")


def mixture_priors() -> list[tuple[str, str, dict]]:
    """(name, title, gmm params) of the catalog's 2-D Gaussian mixtures."""
    from ..core import catalog
    out = []
    for e in catalog.builtin():
        node = e.node
        if node.get("kind") == "gmm" and len(node["params"]["means"][0]) == 2:
            out.append((e.name, e.title, node["params"]))
    return out


class EditPanel(QWidget):
    finished = Signal(object, str)        # EditResult or None, error message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("editPanel")
        self.priors = mixture_priors()
        self.result = None
        self.loaded: np.ndarray | None = None
        self._thread: threading.Thread | None = None

        self.prior_combo = QComboBox()
        for name, title, _ in self.priors:
            self.prior_combo.addItem(title, name)
        self.source = QSpinBox()
        self.source.setToolTip("The mixture component whose sample is edited")
        self.count = QSpinBox()
        self.count.setRange(2, 2000)
        self.count.setValue(100)
        self.load_button = QPushButton("Load points…")
        self.load_button.setToolTip("Edit a .npy file of 2-D points [N, 2] instead")
        self.solver_combo = QComboBox()
        self.solver_combo.addItems(list(SOLVERS))
        self.target = QSpinBox()
        self.target.setToolTip("The label (mixture component) to regenerate towards")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.0, 50.0)
        self.scale.setSingleStep(0.5)
        self.scale.setValue(1.0)
        self.scale.setToolTip("Classifier-guidance scale (1: Bayes' rule; 0: no change)")
        self.mode = QComboBox()
        self.mode.addItems(["Inversion (ODE, exact noise)", "SDEdit from time t"])
        self.mode.setToolTip("Inversion: integrate the points to noise and regenerate from it. "
                             "SDEdit: noise the points to time t and sample back from there")
        self.t_edit = QDoubleSpinBox()
        self.t_edit.setRange(0.01, 1.0)
        self.t_edit.setSingleStep(0.05)
        self.t_edit.setValue(0.3)
        self.t_edit.setToolTip("SDEdit's start time (vp-linear: 0 data, 1 noise)")
        self.run_button = QPushButton("Invert && regenerate")
        self.status = QLabel("Pick the points and the new label, then invert and regenerate.")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #9aa4ae;")

        form = QFormLayout()
        form.addRow("prior", self.prior_combo)
        form.addRow("points from component", self.source)
        form.addRow("how many", self.count)
        form.addRow("", self.load_button)
        form.addRow("mode", self.mode)
        form.addRow("SDEdit time t", self.t_edit)
        form.addRow("ODE solver", self.solver_combo)
        form.addRow("new label", self.target)
        form.addRow("guidance scale", self.scale)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.run_button)
        left.addWidget(self.status)
        left.addStretch(1)
        self.plots, self.scatters = [], []
        plots = QHBoxLayout()
        for title in PANES:
            pw = pg.PlotWidget(background=current().plot, title=title)
            pw.setMenuEnabled(False)
            pw.hideButtons()
            pw.setAspectLocked(True)
            means = pg.ScatterPlotItem(size=12, pen=pg.mkPen(200, 208, 216, 120), brush=None)
            pts = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(110, 190, 255, 200))
            pw.addItem(means)
            pw.addItem(pts)
            if self.plots:                      # one view: the panes share their axes
                pw.setXLink(self.plots[0])
                pw.setYLink(self.plots[0])
            self.plots.append(pw)
            self.scatters.append((means, pts))
            plots.addWidget(pw, 1)
        lay = QHBoxLayout(self)
        side = QWidget()
        side.setLayout(left)
        side.setMaximumWidth(320)
        lay.addWidget(side)
        lay.addLayout(plots, 1)

        self.prior_combo.currentIndexChanged.connect(lambda _i: self._prior_changed())
        self.source.valueChanged.connect(lambda _v: self._sampled())
        self.count.valueChanged.connect(lambda _v: self._sampled())
        self.load_button.clicked.connect(self._load_dialog)
        self.run_button.clicked.connect(self.run)
        self.finished.connect(self._finished)
        self._prior_changed()

    # -- inputs ------------------------------------------------------------------------------
    def params(self) -> dict:
        return self.priors[max(self.prior_combo.currentIndex(), 0)][2]

    def _prior_changed(self) -> None:
        k = len(self.params()["means"])
        for box in (self.source, self.target):
            box.setRange(0, k - 1)
        self.target.setValue(min(1, k - 1))
        means = np.asarray(self.params()["means"])
        for m, _ in self.scatters:
            m.setData(means[:, 0], means[:, 1])
        self._preview()

    def _sampled(self) -> None:
        """Back to a sample of the chosen component (after loaded points)."""
        self.loaded = None
        self._preview()

    def _preview(self) -> None:
        """Show the points to edit (and the prior's means) before any run, the old results gone."""
        for _, pts in self.scatters[1:]:
            pts.clear()
        self._show(0, self.points())
        self.plots[0].autoRange()

    def load_points(self, path: str) -> None:
        from ..core.arrays import load_array
        self.use_points(load_array(path, "points"), path)

    def use_points(self, arr: np.ndarray, where: str, prior: dict | None = None) -> None:
        """Edit the 2-D points ``arr`` [N, 2] (from a file or a gallery picture: ``where``);
        ``prior``: the gmm parameters of the network that made them, selected if it is one of the
        catalog's mixtures."""
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise StudioError(f"points must be [N, 2], got {list(arr.shape)}", where)
        if not np.isfinite(arr).all():
            raise StudioError("points must be finite numbers", where)
        self.loaded = None
        note = ""
        means = np.asarray((prior or {}).get("means", []), dtype=np.float64)
        for i, (_, title, params) in enumerate(self.priors):
            mine = np.asarray(params["means"], dtype=np.float64)
            if mine.shape == means.shape and np.allclose(mine, means, atol=1e-9):
                self.prior_combo.setCurrentIndex(i)
                note = f"; prior: {title}"
                break
        self.loaded = arr
        self._preview()
        self.status.setText(f"loaded {len(arr)} points from {where}{note}")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Points to edit", "", "NumPy arrays (*.npy)")
        if path:
            try:
                self.load_points(path)
            except StudioError as exc:
                self.status.setText(f"cannot load: {exc}")

    def points(self) -> np.ndarray:
        if self.loaded is not None:
            return self.loaded
        p = self.params()
        k = self.source.value()
        mean = np.asarray(p["means"][k], dtype=np.float64)
        if "covs" in p:
            cov = np.asarray(p["covs"][k], dtype=np.float64)
        else:
            cov = np.diag(np.asarray(p["vars"][k], dtype=np.float64))
        rng = np.random.default_rng(0)
        return rng.multivariate_normal(mean, cov, size=self.count.value())

    def pipeline_doc(self) -> dict:
        kind, params = SOLVERS[self.solver_combo.currentText()]
        return {"format": "studio.pipeline/1",
                "nodes": {"process": {"type": "process", "kind": "vp-linear", "params": {}},
                          "prior": {"type": "network", "kind": "gmm", "params": self.params()},
                          "solver": {"type": "solver", "kind": kind, "params": dict(params)}},
                "links": [["process", "prior"], ["prior", "solver"]],
                "run": {"batch": 2, "seed": 0}}

    # -- running -----------------------------------------------------------------------------
    def run(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return False
        doc, pts = self.pipeline_doc(), self.points()
        guidance = {"kind": "classifier", "params": {"scale": float(self.scale.value())}}
        label = int(self.target.value())
        if self.mode.currentIndex() == 1:
            return self._run_sdedit(pts, guidance, label)
        self.run_button.setEnabled(False)
        self.status.setText(f"inverting {len(pts)} points…")
        self._show(0, pts)

        def work():
            from ..core.edit import invert_and_regenerate
            try:
                self.finished.emit(invert_and_regenerate(doc, pts, guidance, label), "")
            except StudioError as exc:
                self.finished.emit(None, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.finished.emit(None, f"{type(exc).__name__}: {exc}")

        self._thread = start_thread(work, "edit")     # counted by the job registry
        return True

    def _run_sdedit(self, pts, guidance, label) -> bool:
        t = float(self.t_edit.value())
        doc = self.pipeline_doc()
        doc["nodes"]["solver"] = {"type": "solver", "kind": "ddim",
                                  "params": {"steps": 100, "eta": 1.0, "schedule": "uniform"}}
        self.run_button.setEnabled(False)
        self.status.setText(f"SDEdit from t = {t:g}…")
        self._show(0, pts)

        def work():
            from ..core.edit import EditResult, sdedit
            try:
                same = sdedit(doc, pts, t)
                new = sdedit(doc, pts, t, guidance, label)
                self.finished.emit(EditResult(np.asarray(pts), np.zeros_like(pts), same, new, 0,
                                              0), "")
            except StudioError as exc:
                self.finished.emit(None, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.finished.emit(None, f"{type(exc).__name__}: {exc}")

        self._thread = start_thread(work, "sdedit")     # counted by the job registry
        return True

    def _show(self, pane: int, pts: np.ndarray) -> None:
        self.scatters[pane][1].setData(pts[:, 0], pts[:, 1])

    def _finished(self, result, error: str) -> None:
        self.run_button.setEnabled(True)
        if result is None:
            self.status.setText(f"failed: {error}")
            return
        self.result = result
        self._show(1, result.reconstruction)
        self._show(2, result.edited)
        if self.mode.currentIndex() == 1:
            self.status.setText(f"SDEdit from t = {self.t_edit.value():g} (DDIM eta 1, 100 "
                                f"uniform steps): middle without a label, right with label "
                                f"{self.target.value()} at scale {self.scale.value():g}")
            return
        self.status.setText(f"inverted {len(result.original)} points ({result.nfe_invert} "
                            f"evaluations); reconstruction RMSE {result.rmse:.2e}; regenerated "
                            f"with label {self.target.value()} at scale {self.scale.value():g} "
                            f"({result.nfe_regenerate} evaluations)")

    def wait(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["EditPanel", "mixture_priors"]

"""The Edit workspace's image tab: invert a digit with the bundled class-conditional digits model
under its own label, regenerate it from the inverted noise under another label and guidance scale
(classifier-free guidance), side by side with the original and the unchanged reconstruction.

The image is one of scikit-learn's 8x8 digits (its true label is the source label) or an image
file (resized to 8x8 grey; the user gives its label). The work runs in a background thread through
:func:`studio.core.edit.invert_and_regenerate`; in the *SDEdit* mode the image is instead noised
to time t and sampled back under the new label (:func:`studio.core.edit.sdedit`, ``run.start``),
the middle pane then showing the same without the new label (under the source label).
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

MODEL = "assets:digits.safetensors"
SOLVERS = {"DDIM (eta 0), 50 steps": ("ddim", {"steps": 50, "eta": 0.0}),
           "dopri5 (adaptive, exact round trip)": ("dopri5", {"rtol": 1e-5, "atol": 1e-5})}
PANES = ("Original", "Reconstruction (source label)", "Edited (new label)")


class DigitEditPanel(QWidget):
    finished = Signal(object, str)        # EditResult or None, error message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.images: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.image: np.ndarray | None = None
        self.result = None
        self._thread: threading.Thread | None = None

        self.index = QSpinBox()
        self.index.setRange(0, 1796)
        self.index.setToolTip("Which of scikit-learn's 1797 digits to edit")
        self.load_button = QPushButton("Load image…")
        self.load_button.setToolTip("Edit an image file instead (resized to 8x8 grey)")
        self.source = QSpinBox()
        self.source.setRange(0, 9)
        self.source.setToolTip("The label the image is inverted under (a data-set digit: its own)")
        self.target = QSpinBox()
        self.target.setRange(0, 9)
        self.target.setValue(7)
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.0, 20.0)
        self.scale.setSingleStep(0.5)
        self.scale.setValue(2.0)
        self.scale.setToolTip("Classifier-free guidance scale of the regeneration (1: the "
                              "conditional model)")
        self.solver_combo = QComboBox()
        self.solver_combo.addItems(list(SOLVERS))
        self.mode = QComboBox()
        self.mode.addItems(["Inversion (ODE, exact noise)", "SDEdit from time t"])
        self.t_edit = QDoubleSpinBox()
        self.t_edit.setRange(0.02, 0.99)
        self.t_edit.setSingleStep(0.05)
        self.t_edit.setValue(0.5)
        self.t_edit.setToolTip("SDEdit's start time (the model's vp-cosine process: 0 data, 1 "
                               "noise)")
        self.run_button = QPushButton("Invert && regenerate")
        self.status = QLabel("The bundled class-conditional digits model inverts the image under "
                             "its label and regenerates it under the new one.")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #9aa4ae;")
        form = QFormLayout()
        form.addRow("digit", self.index)
        form.addRow("", self.load_button)
        form.addRow("its label", self.source)
        form.addRow("new label", self.target)
        form.addRow("guidance scale", self.scale)
        form.addRow("mode", self.mode)
        form.addRow("SDEdit time t", self.t_edit)
        form.addRow("ODE solver", self.solver_combo)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.run_button)
        left.addWidget(self.status)
        left.addStretch(1)
        side = QWidget()
        side.setLayout(left)
        side.setMaximumWidth(320)
        self.views = []
        row = QHBoxLayout()
        for title in PANES:
            pw = pg.PlotWidget(background=current().plot, title=title)
            pw.setMenuEnabled(False)
            pw.hideButtons()
            pw.setAspectLocked(True)
            pw.invertY(True)
            for ax in ("left", "bottom"):
                pw.hideAxis(ax)
            item = pg.ImageItem(axisOrder="row-major")
            item.setLevels((0.0, 1.0))
            pw.addItem(item)
            self.views.append(item)
            row.addWidget(pw, 1)
        lay = QHBoxLayout(self)
        lay.addWidget(side)
        lay.addLayout(row, 1)
        self.index.valueChanged.connect(lambda _v: self._pick())
        self.load_button.clicked.connect(self._load_dialog)
        self.run_button.clicked.connect(self.run)
        self.finished.connect(self._finished)

    # -- inputs ------------------------------------------------------------------------------
    def _data(self) -> None:
        if self.images is None:
            from ..core.training.data import load_digits_arrays
            self.images, self.labels = load_digits_arrays()

    def _pick(self) -> None:
        self._data()
        i = self.index.value()
        self.image = np.asarray(self.images[i], dtype=np.float64)
        self.source.setValue(int(self.labels[i]))
        self._show(0, self.image)

    def load_image(self, path: str) -> None:
        from .inverse.sources import image_from_file
        self.image = np.asarray(image_from_file(path, (1, 8, 8)), dtype=np.float64)
        self._show(0, self.image)
        self.status.setText(f"loaded {path}: set its label, then invert")

    def use_image(self, image: np.ndarray, where: str, label: int | None = None) -> None:
        """Edit ``image`` ([1, 8, 8] or [8, 8], values in [0, 1]) from ``where`` (a gallery
        picture); ``label``: the class it was generated for (its label for the inversion)."""
        img = np.asarray(image, dtype=np.float64).reshape(-1)
        if img.size != 64 or not np.isfinite(img).all():
            raise StudioError("expected one finite 8x8 image", where)
        self.image = np.clip(img.reshape(1, 8, 8), 0.0, 1.0)
        if label is not None and 0 <= int(label) <= 9:
            self.source.setValue(int(label))
        self._show(0, self.image)
        self.status.setText(f"loaded {where}" + (f" (generated as a {int(label)})"
                                                 if label is not None else "")
                            + ": set the new label, then invert")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Image to edit", "",
                                              "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path:
            try:
                self.load_image(path)
            except (StudioError, OSError, ValueError) as exc:
                self.status.setText(f"cannot load: {exc}")

    def pipeline_doc(self) -> dict:
        from ..core.library import resolve_model_path
        from ..core.modelfile import load_model
        spec = load_model(resolve_model_path(MODEL, None, "model")).spec
        kind, params = SOLVERS[self.solver_combo.currentText()]
        return {"format": "studio.pipeline/1",
                "nodes": {"process": {"type": "process", **spec.process},
                          "prior": {"type": "network", "kind": "file", "params": {"path": MODEL}},
                          "solver": {"type": "solver", "kind": kind, "params": dict(params)}},
                "links": [["process", "prior"], ["prior", "solver"]],
                "run": {"batch": 1, "seed": 0}}

    # -- running -----------------------------------------------------------------------------
    def run(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return False
        if self.image is None:
            self._pick()
        try:
            doc = self.pipeline_doc()
        except StudioError as exc:
            self.status.setText(f"cannot run: {exc}")
            return False
        img, src, dst = self.image[None], int(self.source.value()), int(self.target.value())
        scale = float(self.scale.value())
        self.run_button.setEnabled(False)
        self.status.setText("inverting…")

        sd_t = float(self.t_edit.value()) if self.mode.currentIndex() == 1 else None

        def work():
            from ..core.edit import EditResult, invert_and_regenerate, sdedit
            try:
                if sd_t is not None:
                    doc["nodes"]["solver"] = {"type": "solver", "kind": "ddim",
                                              "params": {"steps": 50, "eta": 1.0}}
                    same = sdedit(doc, img, sd_t, {"kind": "cfg", "params": {"scale": 1.0}}, [src])
                    new = sdedit(doc, img, sd_t, {"kind": "cfg", "params": {"scale": scale}},
                                 [dst])
                    self.finished.emit(EditResult(img, np.zeros_like(img), same, new, 0, 0), "")
                    return
                res = invert_and_regenerate(
                    doc, img, {"kind": "cfg", "params": {"scale": scale}}, [dst],
                    source_guidance={"kind": "cfg", "params": {"scale": 1.0}}, source_labels=[src])
                self.finished.emit(res, "")
            except StudioError as exc:
                self.finished.emit(None, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown to the user
                self.finished.emit(None, f"{type(exc).__name__}: {exc}")

        self._thread = start_thread(work, "edit-digit")     # counted by the job registry
        return True

    def _show(self, pane: int, img: np.ndarray) -> None:
        self.views[pane].setImage(np.clip(np.asarray(img).reshape(8, 8), 0.0, 1.0),
                                  levels=(0.0, 1.0))

    def _finished(self, result, error: str) -> None:
        self.run_button.setEnabled(True)
        if result is None:
            self.status.setText(f"failed: {error}")
            return
        self.result = result
        self._show(1, result.reconstruction[0])
        self._show(2, result.edited[0])
        if self.mode.currentIndex() == 1:
            self.status.setText(f"SDEdit from t = {self.t_edit.value():g} (DDIM eta 1, 50 "
                                f"steps): middle under label {self.source.value()}, right under "
                                f"label {self.target.value()} at scale {self.scale.value():g}")
            return
        self.status.setText(f"inverted under label {self.source.value()} ({result.nfe_invert} "
                            f"evaluations), reconstruction RMSE {result.rmse:.3g}; regenerated "
                            f"under label {self.target.value()} at scale "
                            f"{self.scale.value():g}")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.image is None:
            try:
                self._pick()
            except StudioError as exc:
                self.status.setText(str(exc))

    def wait(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["DigitEditPanel"]

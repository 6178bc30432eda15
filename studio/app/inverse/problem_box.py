"""The left column of the inverse-problem panel: prior, ground truth, operator (with the mask brush)
and the measurement y, each an observer of the :class:`~.model.InverseModel`."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QSpinBox, QStackedWidget, QToolButton, QVBoxLayout, QWidget)

from ...core.inverse.operators import OPERATORS
from .canvas import ImageTile, MaskCanvas, TilePair
from .forms import HINT_STYLE, OperatorForm
from .pointsview import PointsMeasurementView
from .problem import operators_for, unusable

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: bold;")
    return label


class ProblemEditor(QWidget):
    def __init__(self, model, parent=None):
        super().__init__(parent)
        self.model = model
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(5)

        # -- prior ---------------------------------------------------------------------------------
        self.prior_combo = QComboBox()
        self.prior_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.prior_combo.setMinimumContentsLength(14)
        self.prior_combo.setToolTip("The model the methods sample from (analytic priors are exact "
                                    "and differentiable; trained models come from the library)")
        self.prior_combo.activated.connect(lambda i: model.set_prior(self.prior_combo.itemData(i)))
        self.prior_hint = QLabel()
        self.prior_hint.setWordWrap(True)
        self.prior_hint.setStyleSheet(HINT_STYLE)
        lay.addWidget(_caption("Prior"))
        lay.addWidget(self.prior_combo)
        lay.addWidget(self.prior_hint)

        # -- ground truth --------------------------------------------------------------------------
        self.index_label = QLabel("item")
        self.index = QSpinBox()
        self.index.setRange(0, 0)
        self.index.setKeyboardTracking(False)
        self.index.valueChanged.connect(model.set_truth_index)
        self.open_button = QPushButton("Image file…")
        self.open_button.setToolTip("Use an image file as the ground truth (fitted to the "
                                    "prior's image size)")
        self.open_button.clicked.connect(self.choose_image)
        row = QHBoxLayout()
        row.addWidget(self.index_label)
        row.addWidget(self.index, 1)
        row.addWidget(self.open_button)
        self.truth_label = QLabel()
        self.truth_label.setStyleSheet(HINT_STYLE)
        self.leave_out = QCheckBox("Leave it out of the prior")
        self.leave_out.setChecked(True)
        self.leave_out.setToolTip("The empirical prior memorises its data: without the truth in "
                                  "it, no method can simply recall the answer")
        self.leave_out.toggled.connect(model.set_leave_out)
        lay.addWidget(_caption("Ground truth x"))
        lay.addLayout(row)
        lay.addWidget(self.truth_label)
        lay.addWidget(self.leave_out)

        # -- operator ------------------------------------------------------------------------------
        self.op_combo = QComboBox()
        self.op_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.op_combo.setMinimumContentsLength(12)
        self.op_combo.activated.connect(lambda i: model.set_operator(self.op_combo.itemData(i)))
        self.op_form = OperatorForm(model)
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.0, 10.0)
        self.sigma.setDecimals(3)
        self.sigma.setSingleStep(0.01)
        self.sigma.setToolTip("Measurement noise σ_y, in the data's units (y = A x + σ_y n)")
        self.sigma.valueChanged.connect(model.set_sigma_y)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("operator", self.op_combo)
        form.addRow("noise σ_y", self.sigma)
        lay.addWidget(_caption("Measurement y = A x + σ_y n"))
        lay.addLayout(form)
        lay.addWidget(self.op_form)
        self.brush_row = self._brush_row()
        lay.addWidget(self.brush_row)
        self.coords_row = QWidget()
        self.coords_lay = QHBoxLayout(self.coords_row)
        self.coords_lay.setContentsMargins(0, 0, 0, 0)
        self.coord_boxes: list[QCheckBox] = []
        self.coords_edit = QLineEdit()
        self.coords_edit.setPlaceholderText("observed coordinates, e.g. 0-3, 7")
        self.coords_edit.editingFinished.connect(self._coords_typed)
        lay.addWidget(self.coords_row)

        # -- the pictures --------------------------------------------------------------------------
        self.canvas = MaskCanvas(model)
        self.y_tile = ImageTile()
        self.y_tile.placeholder = "no measurement"
        self.points_view = PointsMeasurementView(model)
        self.canvas_caption = QLabel("x — drag to paint the mask")
        self.y_caption = QLabel("y")
        for cap in (self.canvas_caption, self.y_caption):
            cap.setStyleSheet(HINT_STYLE)
        pics = TilePair((self.canvas_caption, self.canvas), (self.y_caption, self.y_tile))
        self.pictures = QStackedWidget()
        self.pictures.addWidget(pics)
        self.pictures.addWidget(self.points_view)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #e0564a;")
        lay.addWidget(self.status)
        lay.addWidget(self.pictures, 1)

        model.priorsChanged.connect(self._fill_priors)
        model.priorChanged.connect(self._prior_changed)
        model.truthChanged.connect(self._truth_changed)
        model.operatorChanged.connect(self._operator_changed)
        model.maskChanged.connect(self._mask_changed)
        model.measurementChanged.connect(self._measurement_changed)
        model.loadingChanged.connect(lambda _on: self._truth_changed())
        self._fill_priors()
        self._prior_changed()

    def _brush_row(self) -> QWidget:
        w = QWidget()
        rows = QVBoxLayout(w)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(3)
        row = QHBoxLayout()
        rows.addLayout(row)
        self.brush = QSpinBox()
        self.brush.setRange(1, 64)
        self.brush.setSuffix(" px")
        self.brush.setToolTip("Brush diameter in image pixels")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush", float(v)))
        self.erase = QToolButton()
        self.erase.setText("Erase")
        self.erase.setCheckable(True)
        self.erase.setToolTip("Erase: the brush shows pixels again (right-drag does too)")
        self.erase.toggled.connect(lambda on: setattr(self.canvas, "erase", on))
        row.addWidget(QLabel("brush"))
        row.addWidget(self.brush)
        row.addWidget(self.erase)
        row.addStretch(1)
        row = QHBoxLayout()
        rows.addLayout(row)
        row.addWidget(QLabel("mask"))
        for text, tip, slot in (("All", "Observe every pixel", lambda: self.model.fill_mask(True)),
                                ("None", "Hide every pixel", lambda: self.model.fill_mask(False)),
                                ("Invert", "Swap observed and hidden", self.model.invert_mask),
                                ("Half", "Hide the lower half", self.model.reset_mask)):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            row.addWidget(b)
        row.addStretch(1)
        return w

    # -- observers --------------------------------------------------------------------------------
    def _fill_priors(self) -> None:
        self.prior_combo.blockSignals(True)
        self.prior_combo.clear()
        for key, p in self.model.priors.items():
            self.prior_combo.addItem(p.title, key)
            self.prior_combo.setItemData(self.prior_combo.count() - 1, p.description,
                                         Qt.ToolTipRole)
        self.prior_combo.setCurrentIndex(max(0, self.prior_combo.findData(self.model.prior.key)))
        self.prior_combo.blockSignals(False)

    def _prior_changed(self) -> None:
        m, p = self.model, self.model.prior
        self.prior_combo.setCurrentIndex(max(0, self.prior_combo.findData(p.key)))
        grad = "" if p.differentiable else " Trained models run without gradients: no DPS/PiGDM."
        if unusable(p, "ir-sde"):
            grad += " IR-SDE needs an analytic prior."
        self.prior_hint.setText(f"{p.kind}, shape {list(p.data_shape)}.{grad}")
        self.open_button.setVisible(p.kind == "image")
        self.leave_out.setVisible(p.empirical)
        self.index_label.setText("item" if p.dataset is not None else "seed")
        self.index.setToolTip("Which item of the prior's data set is the truth" if p.dataset
                              else "Seed of the prior sample that is the truth (or click the plot)")
        self.op_combo.blockSignals(True)
        self.op_combo.clear()
        for k in operators_for(p):
            self.op_combo.addItem(getattr(OPERATORS.get(k), "title", k), k)
        self.op_combo.blockSignals(False)
        self.pictures.setCurrentIndex(0 if p.kind == "image" else 1)
        self._build_coords()
        self.sigma.blockSignals(True)
        self.sigma.setValue(m.problem.sigma_y)
        self.sigma.blockSignals(False)
        self._operator_changed()
        self._truth_changed()

    def _truth_changed(self) -> None:
        m = self.model
        n = m.dataset_size()
        self.index.blockSignals(True)
        self.index.setRange(0, max(n - 1, 0) if m.prior.dataset is not None else 2 ** 31 - 1)
        self.index.setValue(m.truth_index)
        self.index.blockSignals(False)
        self.index.setEnabled(not m.loading and (m.prior.dataset is not None
                                                 or m.prior.network["kind"] == "gmm"))
        self.truth_label.setText("loading the data…" if m.loading else m.problem.truth_label)
        self._pictures()

    def _operator_changed(self) -> None:
        m = self.model
        op = m.problem.operator
        self.op_combo.setCurrentIndex(max(0, self.op_combo.findData(op)))
        inpaint = op == "inpaint"
        self.brush_row.setVisible(inpaint and m.prior.kind == "image")
        self.coords_row.setVisible(inpaint and m.prior.kind != "image")
        self.canvas_caption.setText("x — drag to paint the mask" if inpaint else "x (ground truth)")
        self._pictures()

    def _mask_changed(self) -> None:
        if self.model.prior.kind != "image":
            self._sync_coords()
        self._pictures()

    def _measurement_changed(self) -> None:
        self._pictures()

    def _pictures(self) -> None:
        m = self.model
        why = m.why_not()
        self.status.setText("" if why is None or m.loading else f"⚠ {why}")
        if m.prior.kind != "image":
            self.points_view.refresh()
            return
        self.canvas.refresh()
        y, caption, in_range = (None, "y", False) if m.loading else m.y_picture()
        hidden = None
        if m.problem.operator == "inpaint" and m.mask is not None and m.mask.ndim == 2:
            hidden = m.mask < 0.5
        self.y_caption.setText(caption)
        self.y_tile.set_image(y, m.prior.value_range if in_range else None, hidden)

    # -- vector masks ------------------------------------------------------------------------------
    def _build_coords(self) -> None:
        for b in self.coord_boxes:
            b.setParent(None)
            b.deleteLater()
        self.coord_boxes = []
        self.coords_edit.setParent(None)
        p = self.model.prior
        if p.kind == "image":
            return
        d = int(np.prod(p.data_shape))
        self.coords_lay.addWidget(QLabel("observed"))
        if d <= 4:
            for i in range(d):
                box = QCheckBox(f"x{chr(0x2080 + i)}")
                box.toggled.connect(lambda on, i=i: self._coord_toggled(i, on))
                self.coords_lay.addWidget(box)
                self.coord_boxes.append(box)
        else:
            self.coords_lay.addWidget(self.coords_edit, 1)
        self._sync_coords()

    def _sync_coords(self) -> None:
        mask = np.asarray(self.model.mask).reshape(-1)
        for i, box in enumerate(self.coord_boxes):
            box.blockSignals(True)
            box.setChecked(bool(mask[i] > 0.5))
            box.blockSignals(False)
        if not self.coord_boxes:
            self.coords_edit.setText(_ranges(np.nonzero(mask > 0.5)[0]))

    def _coord_toggled(self, i: int, on: bool) -> None:
        mask = np.array(self.model.mask, dtype=np.float64).reshape(-1)
        mask[i] = 1.0 if on else 0.0
        self.model.set_mask(mask.reshape(self.model.prior.data_shape))

    def _coords_typed(self) -> None:
        d = int(np.prod(self.model.prior.data_shape))
        mask = np.zeros(d)
        try:
            for part in filter(None, (s.strip() for s in self.coords_edit.text().split(","))):
                a, _, b = part.partition("-")
                lo, hi = int(a), int(b or a)
                mask[max(lo, 0):min(hi, d - 1) + 1] = 1.0
        except ValueError:
            self._sync_coords()
            return
        self.model.set_mask(mask.reshape(self.model.prior.data_shape))

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Ground truth image", "", IMAGE_FILTER)
        if path:
            self.model.load_truth_file(path)


def _ranges(idx) -> str:
    out, idx = [], list(int(i) for i in idx)
    while idx:
        a = b = idx.pop(0)
        while idx and idx[0] == b + 1:
            b = idx.pop(0)
        out.append(f"{a}" if a == b else f"{a}-{b}")
    return ", ".join(out)

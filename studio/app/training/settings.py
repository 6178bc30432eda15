"""The training settings: data, architecture, process, objective, budget and previews, as forms
generated from the engine's declarations (:data:`~studio.core.training.DATASETS`,
:data:`~studio.core.nn.registry.ARCHITECTURES`, :data:`~studio.core.registry.PROCESSES` and the
``studio.train/1`` configuration dataclasses). The widget reads and writes that JSON format, so a
configuration made here trains the same with ``studio train CONFIG.json``.
"""
from __future__ import annotations

import json
import os

import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLineEdit, QPushButton, QScrollArea, QSizePolicy, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ...core.errors import StudioError
from ...core.nn.registry import ARCHITECTURES
from ...core.pipeline import write_atomic
from ...core.registry import PROCESSES, SOLVERS
from ...core.training import DATASETS, TrainConfig
from ...core.training.config import FORMAT, ObjectiveConfig, OptimConfig, PreviewConfig
from ..runspecs import limit
from ..seedbox import SeedBox
from .forms import KindForm, SpecForm, section_specs
from .presets import DEFAULT_PRESET, PRESETS, preset

#: the optimiser's parameters shown under "Budget" (the rest under "Optimiser")
BUDGET = ("steps", "batch", "lr")
CONFIG_FILTER = "Training configurations (*.json);;All files (*)"


class Section(QWidget):
    """A titled group whose body folds away (click the title)."""

    def __init__(self, title: str, body: QWidget, expanded: bool = True, parent=None):
        super().__init__(parent)
        self.head = QToolButton()
        self.head.setText(title)
        self.head.setCheckable(True)
        self.head.setChecked(expanded)
        self.head.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.head.setArrowType(Qt.DownArrow if expanded else Qt.RightArrow)
        self.head.setStyleSheet("QToolButton { border: none; font-weight: bold; padding: 2px 0; }")
        self.head.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.head.toggled.connect(self.set_expanded)
        self.body = body
        body.setVisible(expanded)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 2)
        lay.setSpacing(2)
        lay.addWidget(self.head)
        lay.addWidget(body)

    def set_expanded(self, on: bool) -> None:
        self.head.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
        self.body.setVisible(on)


def has_labels(form: KindForm) -> bool | None:
    """Whether the chosen data set has class labels (None: cannot tell without loading it)."""
    try:
        ds = form.instance()
    except StudioError:
        return None
    names = getattr(ds, "names", None)
    if callable(names):                   # the 2-D sets
        return names() is not None
    labels = getattr(ds, "labels", None)  # a folder of images: sub-folders as classes
    if isinstance(labels, bool):
        return labels
    return None


def default_threads() -> int:
    """Half the cores, at most 4: training small models gains little from more, and a thread
    without a free core stalls every step."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def devices() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


class TrainSettings(QScrollArea):
    """Every setting of a training; :meth:`config` validates them into a TrainConfig."""

    changed = Signal()
    message = Signal(str, str)           # level, text (for the log)
    problem = Signal(str, str)           # title, message (for a dialog)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setMinimumWidth(350)
        self.base_dir = ""
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(2)

        self.presets = QComboBox()
        self.presets.addItems(list(PRESETS))
        self.presets.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.presets.setMinimumContentsLength(12)
        self.presets.setToolTip("Start from a tried configuration")
        self.presets.activated.connect(lambda i: self.apply_preset(self.presets.itemText(i)))
        load, save = QPushButton("Open…"), QPushButton("Save…")
        load.setToolTip("Open a training configuration (studio.train/1 JSON)")
        save.setToolTip("Save these settings as a configuration for `studio train`")
        load.clicked.connect(self._open_dialog)
        save.clicked.connect(self._save_dialog)
        top = QHBoxLayout()
        top.addWidget(self.presets, 1)
        top.addWidget(load)
        top.addWidget(save)
        lay.addLayout(top)

        model = QWidget()
        mform = QFormLayout(model)
        mform.setContentsMargins(0, 0, 0, 0)
        mform.setLabelAlignment(Qt.AlignRight)
        self.name = QLineEdit()
        self.name.setToolTip("The model's name in the model browser (and its file name)")
        self.description = QLineEdit()
        self.description.setPlaceholderText("(a summary of these settings)")
        self.seed = SeedBox()   # 64-bit seeds
        limit(self.seed, "seed",
              doc="Seeds the network's initialisation, the batches, times and noise")
        self.device = QComboBox()
        self.device.addItems(devices())
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, os.cpu_count() or 1))
        self.threads.setValue(default_threads())
        self.threads.setToolTip("CPU threads for the training (more than the free cores slows it "
                                "down a lot on a busy machine)")
        for label, w in (("name", self.name), ("description", self.description),
                         ("seed", self.seed), ("device", self.device),
                         ("CPU threads", self.threads)):
            mform.addRow(label, w)
        lay.addWidget(Section("Model", model))

        data = QWidget()
        dl = QVBoxLayout(data)
        dl.setContentsMargins(0, 0, 0, 0)
        self.data = KindForm(DATASETS, "data")
        self.conditional = QCheckBox("class-conditional (train on the labels)")
        dl.addWidget(self.data)
        dl.addWidget(self.conditional)
        lay.addWidget(Section("Data", data))
        self.arch = KindForm(ARCHITECTURES, "architecture")
        lay.addWidget(Section("Architecture", self.arch))
        self.process = KindForm(PROCESSES, "process")
        lay.addWidget(Section("Process", self.process))
        self.objective = SpecForm(section_specs(ObjectiveConfig), "objective")
        lay.addWidget(Section("Objective", self.objective))
        optim = section_specs(OptimConfig)
        self.budget = SpecForm([s for s in optim if s.name in BUDGET], "optim")
        lay.addWidget(Section("Budget", self.budget))
        self.optim = SpecForm([s for s in optim if s.name not in BUDGET], "optim")
        lay.addWidget(Section("Optimiser", self.optim, expanded=False))
        pv = QWidget()
        pl = QVBoxLayout(pv)
        pl.setContentsMargins(0, 0, 0, 0)
        self.preview = SpecForm(section_specs(PreviewConfig, {
            "solver": {"choices": tuple(SOLVERS.ids())}}), "preview")
        self.log_every = QSpinBox()
        self.log_every.setRange(1, 100000)
        self.log_every.setToolTip("A point of the loss curve every N steps (the mean loss since "
                                  "the previous point)")
        lf = QFormLayout()
        lf.setLabelAlignment(Qt.AlignRight)
        lf.addRow("loss every", self.log_every)
        pl.addWidget(self.preview)
        pl.addLayout(lf)
        lay.addWidget(Section("Previews", pv, expanded=False))
        lay.addStretch(1)
        self.setWidget(page)

        self.data.changed.connect(self._data_changed)
        for sig in (self.data.changed, self.arch.changed, self.process.changed,
                    self.objective.changed, self.budget.changed, self.optim.changed,
                    self.preview.changed, self.name.textChanged, self.description.textChanged,
                    self.seed.valueChanged, self.conditional.toggled, self.log_every.valueChanged):
            sig.connect(self.changed)
        self.apply_preset(DEFAULT_PRESET)

    def _data_changed(self) -> None:
        """Class-conditional training needs labels: offer it only for data that has them."""
        labelled = has_labels(self.data)
        self.conditional.setEnabled(labelled is not False)
        if labelled is False:
            self.conditional.setChecked(False)
        self.conditional.setToolTip(
            "This data set has no labels" + (" (turn on “labels” to use sub-folders as classes)"
                                             if self.data.kind() == "image-folder" else "")
            if labelled is False else
            "Train on the data set's labels, with class dropout so that the model also works "
            "unconditionally (classifier-free guidance)")

    # -- the configuration ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The settings as ``studio.train/1`` JSON (only the values that were set)."""
        return {"format": FORMAT, "name": self.name.text().strip(),
                "description": self.description.text().strip(), "seed": self.seed.value(),
                "data": {"kind": self.data.kind(), "params": self.data.params(),
                         "conditional": self.conditional.isChecked()},
                "architecture": {"id": self.arch.kind(), "params": self.arch.params()},
                "process": {"kind": self.process.kind(), "params": self.process.params()},
                "objective": self.objective.values(),
                "optim": {**self.budget.values(), **self.optim.values()},
                "preview": self.preview.values(), "log_every": self.log_every.value()}

    def set_dict(self, d: dict) -> None:
        """Show a configuration (validated first: raises StudioError and changes nothing)."""
        TrainConfig.from_dict(dict(d, format=FORMAT), self.base_dir, "configuration")
        self.name.setText(str(d.get("name", "")))
        self.description.setText(str(d.get("description", "")))
        self.seed.setValue(int(d.get("seed", 0)))
        data = d["data"]
        self.data.set(data["kind"], data.get("params"))
        self.conditional.setChecked(bool(data.get("conditional", False)))
        self.arch.set(d["architecture"]["id"], d["architecture"].get("params"))
        self.process.set(d["process"]["kind"], d["process"].get("params"))
        self.objective.set_values(d.get("objective"))
        optim = d.get("optim") or {}
        self.budget.set_values({k: v for k, v in optim.items() if k in BUDGET})
        self.optim.set_values({k: v for k, v in optim.items() if k not in BUDGET})
        self.preview.set_values(d.get("preview"))
        self.log_every.setValue(max(1, int(d.get("log_every", 50))))
        self.changed.emit()

    def problems(self) -> list[str]:
        out = []
        for form in (self.data, self.arch, self.process, self.objective, self.budget, self.optim,
                     self.preview):
            out += form.problems()
        return out

    def config(self) -> TrainConfig:
        """The validated configuration (raises StudioError naming the field)."""
        bad = self.problems()
        if bad:
            raise StudioError(f"fix the fields marked in red first ({bad[0]})", "training settings")
        return TrainConfig.from_dict(self.to_dict(), self.base_dir, "training settings")

    def device_name(self) -> str:
        return self.device.currentText()

    # -- presets and files ---------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        self.base_dir = ""
        i = self.presets.findText(name)
        if i >= 0:
            self.presets.setCurrentIndex(i)
        self.set_dict(preset(name))

    def load_file(self, path: str) -> None:
        cfg = TrainConfig.load(path)            # validated: errors name the file and field
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)                 # as written: only the values it sets
        self.base_dir = cfg.base_dir
        self.set_dict(raw)

    def save_file(self, path: str) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open training configuration",
                                              self.base_dir or os.getcwd(), CONFIG_FILTER)
        if not path:
            return
        try:
            self.load_file(path)
        except StudioError as exc:
            self.problem.emit("Cannot open the configuration", str(exc))
            return
        self.message.emit("ok", f"training configuration {path}")

    def _save_dialog(self) -> None:
        stem = (self.name.text().strip() or "training").replace(os.sep, "-")
        path, _ = QFileDialog.getSaveFileName(self, "Save training configuration", os.path.join(
            self.base_dir or os.getcwd(), f"{stem}.json"), CONFIG_FILTER)
        if not path:
            return
        try:
            self.save_file(path)
        except OSError as exc:
            self.problem.emit("Cannot save", f"{path}: {exc.strerror or exc}")
            return
        self.message.emit("ok", f"saved {path}; train it with `studio train {path} --out "
                                "MODEL.safetensors`")

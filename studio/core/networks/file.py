"""``file``: a trained model from a model file (format ``studio.model/1``).

The path is absolute, relative to the pipeline's folder, or ``assets:NAME.safetensors`` for a
bundled model. The network predicts in the parameterization its file records, under the process it
was trained with (the Denoiser maps any pipeline process onto it), and returns samples in the
data's own units (``to_data_units``). Class labels come from ``run.labels``; a label of -1 (or no
labels at all) asks for the unconditional prediction, which classifier-free guidance uses.
"""
from __future__ import annotations

import copy

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ParamError, StudioError
from ..library import resolve_model_path
from ..params import param
from ..processes.base import as_time
from ..registry import NETWORKS
from .base import Network


@NETWORKS.register("file")
@dataclass
class FileNetwork(Network):
    """A trained network loaded from a .safetensors model file."""

    title = "Trained model (model file)"
    path: str = param(doc="model file: absolute, relative to the pipeline, or assets:NAME.safetensors",
                      ui="model")
    _base_dir: str = field(default="", repr=False)
    #: an already loaded model (:class:`studio.core.modelfile.LoadedModel`); skips reading ``path``
    _loaded: Any = field(default=None, repr=False)

    def __post_init__(self):
        super().__post_init__()
        if self._loaded is None:
            from ..modelfile import load_model
            resolved = resolve_model_path(self.path, self._base_dir or None, "path")
            try:
                self._loaded = load_model(resolved)
            except StudioError as exc:
                raise ParamError(str(exc), "path") from None
        self.spec = self._loaded.spec
        if self.spec.is_classifier:
            raise ParamError(f"{self._loaded.path} is a noise-conditional classifier, not a "
                             "denoiser: use it as the 'classifier' of a classifier guidance node",
                             "path")
        self.model = self._loaded.model
        self._process = self.spec.build_process(self._loaded.path)
        self._devices: dict = {}

    # -- the Network interface ---------------------------------------------------------------
    @property
    def parameterization(self) -> str:  # type: ignore[override]
        # a flow-map model predicts, at s = t, the velocity its map implies
        return self.spec.velocity_parameterization

    @property
    def flow_map_kind(self) -> str:  # type: ignore[override]
        return "learned" if self.spec.is_flow_map else ""

    @property
    def data_shape(self):
        return tuple(self.spec.data_shape)

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def trained_process(self):
        return self._process

    @property
    def default_dtype(self):
        return torch.float32

    def _module_on(self, device: torch.device):
        key = str(device)
        if key not in self._devices:
            module = self.model if device.type == "cpu" else copy.deepcopy(self.model).to(device)
            self._devices[key] = module
        return self._devices[key]

    def check_labels(self, labels, batch: int):
        if labels is None:
            if self.num_classes and self.spec.class_dropout <= 0:
                raise StudioError(f"model {self.spec.name or self.path!r} is class-conditional and "
                                  f"was trained without class dropout: set run.labels to class ids "
                                  f"0..{self.num_classes - 1}", "run.labels")
            return None
        if self.num_classes == 0:
            raise StudioError(f"model {self.spec.name or self.path!r} is unconditional: remove "
                              "run.labels", "run.labels")
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.ndim == 0:
            labels = labels.expand(batch)
        if labels.shape != (batch,):
            raise StudioError(f"need one label per sample ({batch}), got shape {list(labels.shape)}",
                              "run.labels")
        if bool((labels >= self.num_classes).any()) or bool((labels < -1).any()):
            raise StudioError(f"labels must be class ids 0..{self.num_classes - 1} (or -1 for "
                              "unconditional)", "run.labels")
        if bool((labels < 0).any()) and self.spec.class_dropout <= 0:
            raise StudioError("label -1 (unconditional) needs a model trained with class dropout",
                              "run.labels")
        return labels

    def predict(self, x, t, process, labels=None):
        module = self._module_on(x.device)
        labels = self.check_labels(labels, x.shape[0])
        t = as_time(t, x)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        # No no_grad here: sampling already runs without gradients (the runner), and likelihood,
        # diagnostics and posterior-sampling guidance need d(prediction)/dx through the network.
        out = module(x.to(torch.float32), t, labels)
        return out.to(x.dtype)

    def flow_map(self, x, t, s, process, labels=None):
        """The learned Phi(x, t, s) of a flow-map model file (under its own process)."""
        if not self.spec.is_flow_map:
            return super().flow_map(x, t, s, process, labels)
        module = self._module_on(x.device)
        labels = self.check_labels(labels, x.shape[0])
        return module.jump(x.to(torch.float32), t, s, labels).to(x.dtype)

    def to_data_units(self, x):
        return self.spec.to_data_units(x)

    def card(self):
        out = super().card()
        out.update({"name": self.spec.name, "description": self.spec.description,
                    "path": self._loaded.path, "architecture": self.spec.architecture,
                    "parameters": self._loaded.parameters, "data_kind": self.spec.data_kind,
                    "class_names": self.spec.class_names})
        if self.spec.is_flow_map:
            out["flow_map"] = dict(self.spec.flow_map)
        return out

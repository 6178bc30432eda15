"""The network interface: anything that predicts eps, x0, v, score or velocity.

A network declares what it predicts (``parameterization``), the shape of one data item
(``data_shape``) and its conditioning (``num_classes``; 0 for unconditional). Analytic networks
(Gaussian mixtures, the empirical denoiser) compute their prediction from the pipeline's process
and work with every process. A trained network also records the process it was trained with
(``trained_process``); :class:`studio.core.model.Denoiser` then maps any other process onto it
exactly, by matching log-SNR and rescaling x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ..processes.base import Process


@dataclass
class Network:
    """Base class of registered network kinds."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: what :meth:`predict` returns: "eps", "x0", "v", "score" or "velocity"
    parameterization: ClassVar[str] = "x0"

    def __post_init__(self) -> None:
        self._cache: dict = {}

    @property
    def data_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return 0

    @property
    def trained_process(self) -> Process | None:
        """The process a trained network expects; None if it works with any process."""
        return None

    @property
    def default_dtype(self) -> torch.dtype:
        return torch.float64

    def predict(self, x: Tensor, t: Tensor, process: Process, labels: Tensor | None = None) -> Tensor:
        """The prediction at (x, t); ``t`` is a scalar or one time per sample (float64)."""
        raise NotImplementedError

    #: whether :meth:`flow_map` is available ("exact": closed form, "reference": an adaptive ODE
    #: solve to tolerance, "learned": a trained flow-map model; "" for none)
    flow_map_kind: ClassVar[str] = ""

    def flow_map(self, x: Tensor, t, s, process: Process, labels: Tensor | None = None) -> Tensor:
        """Phi(x, t, s): the probability-flow ODE's solution map from time t to time s (scalars or
        one time per sample, float64), the time pair convention of
        :data:`studio.core.nn.flowmap.TIME_PAIR`. Networks without one raise."""
        from ..errors import StudioError
        raise StudioError(f"network {self.id!r} has no flow map: use a flow-map model file, or a "
                          "gaussian, gmm or empirical network", "network")

    def to_data_units(self, x: Tensor) -> Tensor:
        """Map samples from the network's space to the data's own units (trained models record a
        normalisation; the runner applies this to the final samples). Default: identity."""
        return x

    def card(self) -> dict:
        """What the model browser and `studio models inspect` show."""
        proc = self.trained_process
        return {"kind": self.id, "title": self.title, "data_shape": list(self.data_shape),
                "parameterization": self.parameterization, "num_classes": self.num_classes,
                "process": proc.id if proc is not None else "any"}

    def _on(self, name: str, value, like: Tensor) -> Tensor:
        """A constant tensor cached on ``like``'s device and dtype."""
        key = (name, like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(value).to(device=like.device, dtype=like.dtype)
        return self._cache[key]

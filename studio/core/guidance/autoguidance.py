"""Autoguidance (Karras, Aittala, Kynkaanniemi, Lehtinen, Aila & Laine 2024, "Guiding a Diffusion
Model with a Bad Version of Itself").

Guide the main model with a weaker model of the same family (smaller, or trained for less) rather
than with the unconditional model, both on the same conditioning:

    D = D_weak + w (D_main - D_weak)

The two models' errors are alike, so the difference pushes away from the weak model's errors and
towards the data without CFG's loss of diversity. The weak model is a model file; it is queried at
the pipeline's (x, t) exactly like the main network (at equal log-SNR under its own training
process), and must make data of the same shape, in the same units, with the same classes.
w = 1 is the main model exactly (one evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import ParamError
from ..parameterization import from_x0_eps, to_x0_eps
from ..params import param
from ..registry import GUIDANCE
from .base import Guidance


@GUIDANCE.register("autoguidance")
@dataclass
class Autoguidance(Guidance):
    """Guide with a weaker model file of the same family: D_weak + w (D_main - D_weak)."""

    title = "Autoguidance (guide with a weaker model)"
    weak: str = param(doc="the weaker model file (absolute, relative to the pipeline, or "
                      "assets:NAME.safetensors)", ui="model")
    scale: float = param(2.0, "guidance scale w; 1 = the main model alone", min=0.0, max=100.0)
    _base_dir: str = field(default="", repr=False, kw_only=True)

    def __post_init__(self):
        from ..networks.file import FileNetwork
        try:
            self._weak_net = FileNetwork(path=self.weak, _base_dir=self._base_dir)
        except ParamError as exc:
            raise ParamError(str(exc), "weak") from None
        self._weak = None

    def bind(self, network, process) -> None:
        from ..model import Denoiser
        w = self._weak_net
        if tuple(w.data_shape) != tuple(network.data_shape):
            raise ParamError(f"the weak model makes data of shape {list(w.data_shape)}, the main "
                             f"network {list(network.data_shape)}: not the same family", "weak")
        if w.num_classes != network.num_classes:
            raise ParamError(f"the weak model has {w.num_classes} classes, the main network "
                             f"{network.num_classes}: not the same family", "weak")
        main_spec = getattr(network, "spec", None)
        units = (lambda s: (0.0, 1.0) if s is None else (s.shift, s.scale))
        for a, b in zip(units(main_spec), units(w.spec)):
            if not torch.allclose(torch.as_tensor(a, dtype=torch.float64),
                                  torch.as_tensor(b, dtype=torch.float64)):
                raise ParamError("the weak model was trained on data normalised differently from "
                                 "the main network's: not the same family", "weak")
        self._weak = Denoiser(w, process)

    def guide(self, net, kind, x, t, coeffs, labels):
        main = net(x, t, labels)
        if self.scale == 1.0:
            return kind, main
        if self._weak is None:
            raise ParamError("autoguidance was not bound to a network (build the pipeline)", "weak")
        weak = self._weak._net(x, t, labels)
        x0_w, _ = to_x0_eps(self._weak_net.parameterization, weak, x, coeffs)
        x0_m, _ = to_x0_eps(kind, main, x, coeffs)
        x0 = x0_w + self.scale * (x0_m - x0_w)
        eps = (x - coeffs.alpha * x0) / coeffs.sigma
        return kind, from_x0_eps(kind, x0, eps, coeffs)

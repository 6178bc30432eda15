"""Rectified flow / linear interpolant (Liu et al. 2022; Lipman et al. 2022): x_t = (1-t) x0 + t eps."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time


@PROCESSES.register("rectified-flow")
@dataclass
class RectifiedFlow(Process):
    """alpha(t) = 1 - t, sigma(t) = t. ``shift`` rescales sigma/alpha in every schedule (SD3, FLUX)."""

    title = "Rectified flow, linear interpolant"
    shift: float = param(1.0, "timestep shift: sigma/alpha multiplied by this in every schedule",
                         min=1e-6)
    t_min: float = param(1e-3, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (noise end)", min=0.0, max=1.0)

    def alpha(self, t):
        return 1.0 - as_time(t)

    def sigma(self, t):
        return as_time(t).clone()

    def dalpha(self, t):
        return -torch.ones_like(as_time(t))

    def dsigma(self, t):
        return torch.ones_like(as_time(t))

    def t_of_logsnr(self, lam):
        return torch.sigmoid(-0.5 * as_time(lam))

    @property
    def default_shift(self):
        return self.shift

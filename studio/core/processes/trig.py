"""Trigonometric interpolant: alpha = cos(pi t / 2), sigma = sin(pi t / 2)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time


@PROCESSES.register("trig")
@dataclass
class Trig(Process):
    """alpha(t) = cos(pi t/2), sigma(t) = sin(pi t/2) (variance preserving, the 'cosine' interpolant)."""

    title = "Trigonometric interpolant"
    t_min: float = param(1e-3, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (noise end)", min=0.0, max=1.0)

    def alpha(self, t):
        return torch.cos(0.5 * math.pi * as_time(t))

    def sigma(self, t):
        return torch.sin(0.5 * math.pi * as_time(t))

    def dalpha(self, t):
        return -0.5 * math.pi * self.sigma(t)

    def dsigma(self, t):
        return 0.5 * math.pi * self.alpha(t)

    def t_of_logsnr(self, lam):
        return torch.atan(torch.exp(-0.5 * as_time(lam))) * (2.0 / math.pi)

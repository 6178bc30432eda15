"""Variance-preserving process with the cosine schedule (Nichol & Dhariwal 2021)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time, log_sigmoid


@PROCESSES.register("vp-cosine")
@dataclass
class VPCosine(Process):
    """alpha(t) = cos(pi/2 (t+s)/(1+s)) / cos(pi/2 s/(1+s)), sigma^2 = 1 - alpha^2."""

    title = "Variance preserving, cosine schedule (Nichol & Dhariwal 2021)"
    s: float = param(0.008, "offset s of the cosine schedule", min=0.0)
    t_min: float = param(1e-3, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(0.9946, "largest time; alpha(1) = 0, so stop short of it", min=0.0, max=1.0)

    def _phi(self, t):
        return 0.5 * math.pi * (as_time(t) + self.s) / (1.0 + self.s)

    @property
    def _c0(self):
        return math.cos(0.5 * math.pi * self.s / (1.0 + self.s))

    def alpha(self, t):
        return torch.cos(self._phi(t)) / self._c0

    def sigma(self, t):
        a = self.alpha(t)
        return torch.sqrt((1.0 - a) * (1.0 + a))

    def dalpha(self, t):
        return -torch.sin(self._phi(t)) * (0.5 * math.pi / (1.0 + self.s)) / self._c0

    def dsigma(self, t):
        return -self.alpha(t) * self.dalpha(t) / self.sigma(t)

    def t_of_logsnr(self, lam):
        alpha = torch.exp(0.5 * log_sigmoid(as_time(lam)))
        phi = torch.acos(torch.clamp(alpha * self._c0, -1.0, 1.0))
        return phi * 2.0 * (1.0 + self.s) / math.pi - self.s

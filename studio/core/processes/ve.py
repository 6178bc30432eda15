"""Variance-exploding process with a geometric sigma (Song & Ermon; Song et al. 2021)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time


@PROCESSES.register("ve")
@dataclass
class VE(Process):
    """alpha = 1, sigma(t) = sigma_min (sigma_max / sigma_min)^t."""

    title = "Variance exploding, geometric sigma (Song et al. 2021)"
    sigma_min: float = param(0.01, "sigma at t = 0", min=0.0)
    sigma_max: float = param(50.0, "sigma at t = 1; the prior is N(0, sigma_max^2)", min=0.0)
    t_min: float = param(0.0, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (noise end)", min=0.0, max=1.0)

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("need 0 < sigma_min < sigma_max")

    @property
    def _log_ratio(self):
        return math.log(self.sigma_max / self.sigma_min)

    def alpha(self, t):
        return torch.ones_like(as_time(t))

    def sigma(self, t):
        return self.sigma_min * torch.exp(as_time(t) * self._log_ratio)

    def dalpha(self, t):
        return torch.zeros_like(as_time(t))

    def dsigma(self, t):
        return self.sigma(t) * self._log_ratio

    def logsnr(self, t):
        return -2.0 * torch.log(self.sigma(t))

    def t_of_logsnr(self, lam):
        return (-0.5 * as_time(lam) - math.log(self.sigma_min)) / self._log_ratio

    @property
    def prior_std(self):
        return float(self.sigma(torch.tensor(self.t_max, dtype=torch.float64)))

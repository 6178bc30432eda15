"""The EDM process (Karras et al. 2022): alpha = 1, sigma = t."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time


@PROCESSES.register("edm")
@dataclass
class EDM(Process):
    """alpha(t) = 1, sigma(t) = t, with t in [sigma_min, sigma_max]."""

    title = "EDM, sigma = t (Karras et al. 2022)"
    sigma_min: float = param(0.002, "smallest noise level (data end)", min=0.0)
    sigma_max: float = param(80.0, "largest noise level; the prior is N(0, sigma_max^2)", min=0.0)
    sigma_data: float = param(0.5, "data standard deviation (used by EDM preconditioning)", min=0.0)

    def __post_init__(self):
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("need 0 < sigma_min < sigma_max")
        super().__post_init__()

    @property
    def t_min(self):  # type: ignore[override]
        return self.sigma_min

    @property
    def t_max(self):  # type: ignore[override]
        return self.sigma_max

    def alpha(self, t):
        return torch.ones_like(as_time(t))

    def sigma(self, t):
        return as_time(t).clone()

    def dalpha(self, t):
        return torch.zeros_like(as_time(t))

    def dsigma(self, t):
        return torch.ones_like(as_time(t))

    def logsnr(self, t):
        return -2.0 * torch.log(as_time(t))

    def t_of_logsnr(self, lam):
        return torch.exp(-0.5 * as_time(lam))

    @property
    def prior_std(self):
        return self.sigma_max

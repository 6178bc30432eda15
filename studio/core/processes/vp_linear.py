"""Continuous variance-preserving process with a linear beta(t) (Song et al. 2021)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time, log_sigmoid


@PROCESSES.register("vp-linear")
@dataclass
class VPLinear(Process):
    """beta(t) = beta_min + t (beta_max - beta_min); alpha = exp(-int beta / 2), sigma^2 = 1 - alpha^2."""

    title = "Variance preserving, linear beta (Song et al. 2021)"
    beta_min: float = param(0.1, "beta(0)", min=0.0, max=1000.0)
    beta_max: float = param(20.0, "beta(1)", min=0.0, max=1000.0)
    t_min: float = param(1e-3, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (noise end)", min=0.0, max=1.0)

    def beta(self, t):
        return self.beta_min + as_time(t) * (self.beta_max - self.beta_min)

    def log_alpha(self, t):
        t = as_time(t)
        return -0.25 * t * t * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha(self, t):
        return torch.exp(self.log_alpha(t))

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def dalpha(self, t):
        return -0.5 * self.beta(t) * self.alpha(t)

    def dsigma(self, t):
        a = self.alpha(t)
        return -a * self.dalpha(t) / self.sigma(t)

    def logsnr(self, t):
        la2 = 2.0 * self.log_alpha(t)
        return la2 - torch.log(-torch.expm1(la2))

    def t_of_logsnr(self, lam):
        # 2 log alpha = log sigmoid(lambda): solve the quadratic in t.
        two_log_alpha = log_sigmoid(as_time(lam))
        return self.t_of_log_alpha(0.5 * two_log_alpha)

    def t_of_log_alpha(self, log_alpha):
        d = self.beta_max - self.beta_min
        if d == 0:
            return -2.0 * log_alpha / self.beta_min
        return (-self.beta_min + torch.sqrt(self.beta_min ** 2 - 4.0 * d * log_alpha)) / d

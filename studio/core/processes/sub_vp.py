"""The sub-VP process (Song et al. 2021): VP's mean, variance (1 - alpha^2)^2."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..registry import PROCESSES
from .base import as_time
from .vp_linear import VPLinear


@PROCESSES.register("sub-vp")
@dataclass
class SubVP(VPLinear):
    """alpha as in vp-linear, sigma = 1 - alpha^2 (its variance stays below VP's)."""

    title = "Sub-variance-preserving (Song et al. 2021)"

    def sigma(self, t):
        return -torch.expm1(2.0 * self.log_alpha(t))

    def dsigma(self, t):
        return -2.0 * self.alpha(t) * self.dalpha(t)

    def logsnr(self, t):
        la = self.log_alpha(t)
        return 2.0 * la - 2.0 * torch.log(-torch.expm1(2.0 * la))

    def t_of_logsnr(self, lam):
        # alpha / (1 - alpha^2) = q with q = exp(lambda/2): q a^2 + a - q = 0.
        q = torch.exp(0.5 * as_time(lam))
        alpha = 2.0 * q / (1.0 + torch.sqrt(1.0 + 4.0 * q * q))
        return self.t_of_log_alpha(torch.log(alpha))

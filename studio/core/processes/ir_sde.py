"""IR-SDE, the mean-reverting SDE (Luo, Gustafsson, Zhao, Sjolund & Schon 2023, "Image Restoration
with Mean-Reverting Stochastic Differential Equations").

    dx = theta_t (mu - x) dt + sigma_t dW,      sigma_t^2 = 2 lam^2 theta_t,

reverts to the mean mu with stationary standard deviation lam. With thetabar_t = int_0^t theta,

    x_t = mu + e^{-thetabar_t} (x_0 - mu) + lam sqrt(1 - e^{-2 thetabar_t}) eps,

so x_t - mu is the affine process alpha = e^{-thetabar}, sigma = lam sqrt(1 - e^{-2 thetabar}). In
restoration mu is the degraded image and the network is conditioned on it; the studio's generation
pipelines use mu = 0 (x - mu = x), which is this process exactly; restoration towards mu = A^+ y
is the guidance kind ``ir-sde`` (:mod:`studio.core.guidance.ir_sde_restore`). theta_t is constant
(thetabar = theta_max t) or linear in t (thetabar = theta_max t^2), t in [t_min, 1]; theta_max sets
alpha(1) = e^{-theta_max}. The ``mrs`` solver is the fast sampler for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time


@PROCESSES.register("ir-sde")
@dataclass
class IRSDE(Process):
    """Mean-reverting SDE: alpha = e^{-thetabar(t)}, sigma = lam sqrt(1 - e^{-2 thetabar(t)})."""

    title = "Mean-reverting SDE, IR-SDE (Luo et al. 2023)"
    lam: float = param(1.0, "stationary standard deviation lambda (the prior's scale)", min=1e-6)
    theta_max: float = param(6.0, "thetabar(1): alpha(1) = e^{-theta_max}", min=1e-3)
    theta_schedule: str = param("constant", "theta_t: constant or linear in t",
                                choices=("constant", "linear"))
    t_min: float = param(1e-3, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (noise end)", min=0.0, max=1.0)
    #: the mean reverted to (0 in generation; see the module docstring)
    mu: ClassVar[float] = 0.0

    def thetabar(self, t):
        t = as_time(t)
        return self.theta_max * (t if self.theta_schedule == "constant" else t * t)

    def dthetabar(self, t):
        t = as_time(t)
        return self.theta_max * (torch.ones_like(t) if self.theta_schedule == "constant" else 2 * t)

    def alpha(self, t):
        return torch.exp(-self.thetabar(t))

    def dalpha(self, t):
        return -self.dthetabar(t) * self.alpha(t)

    def sigma(self, t):
        return self.lam * torch.sqrt(-torch.expm1(-2.0 * self.thetabar(t)))

    def dsigma(self, t):
        tb = self.thetabar(t)
        return self.lam * self.dthetabar(t) * torch.exp(-2.0 * tb) / torch.sqrt(-torch.expm1(-2.0 * tb))

    def logsnr(self, t):
        tb = self.thetabar(t)
        return -2.0 * tb - 2.0 * torch.log(torch.as_tensor(self.lam, dtype=torch.float64)) \
            - torch.log(-torch.expm1(-2.0 * tb))

    @property
    def prior_std(self):
        return float(self.sigma(torch.tensor(self.t_max, dtype=torch.float64)))

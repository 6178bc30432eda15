"""Training objectives: denoising score matching (eps, x0, v targets) and flow matching
(velocity), under any process, with their loss weightings and training-time distributions.

With x_t = alpha x0 + sigma eps, the targets are

    eps       eps
    x0        x0
    v         alpha eps - sigma x0                         (Salimans & Ho 2022)
    velocity  alpha' x0 + sigma' eps                      (flow matching; = eps - x0 for rectified flow)

At fixed x_t an error e in x0 is an error k e in the target, with k = alpha/sigma (eps), 1 (x0),
(alpha^2 + sigma^2)/sigma (v), (alpha sigma' - alpha' sigma)/sigma (velocity). Weightings are
defined in x0 space and divided by k^2:

    none      1 in the target's own space (plain MSE on the target)
    min-snr   min(SNR, gamma) in x0 space (Hang et al. 2023); SNR = alpha^2 / sigma^2
    edm       1 / c_out^2 in the target's space: unit weight on the preconditioned output F
              (Karras et al. 2022; c_out as in :mod:`studio.core.nn.denoising`)

The ``classifier`` target trains a noise-conditional classifier instead: the cross-entropy of its
logits at x_t against the clean item's class, at the same training times (Dhariwal & Nichol 2021).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..nn.denoising import DenoisingModel
from ..processes.base import Process
from .config import ObjectiveConfig


def resolved_weighting(cfg: ObjectiveConfig) -> str:
    if cfg.target == "classifier":
        return "none"
    if cfg.weighting != "auto":
        return cfg.weighting
    if cfg.precond == "edm":
        return "edm"
    return "min-snr" if cfg.target == "x0" else "none"


def resolved_t_sampling(cfg: ObjectiveConfig, process: Process) -> str:
    if cfg.t_sampling != "auto":
        return cfg.t_sampling
    return "lognormal" if process.prior_std > 1.5 else "uniform"


class Objective:
    def __init__(self, cfg: ObjectiveConfig, process: Process):
        self.cfg = cfg
        self.process = process
        self.weighting = resolved_weighting(cfg)
        self.t_sampling = resolved_t_sampling(cfg, process)

    def sample_times(self, n: int, gen: torch.Generator) -> Tensor:
        """n training times (float64, CPU) from the configured distribution."""
        p = self.process
        lo, hi = float(p.t_min), float(p.t_max)
        if self.t_sampling == "uniform":
            u = torch.rand(n, generator=gen, dtype=torch.float64)
            return lo + (hi - lo) * u
        z = torch.randn(n, generator=gen, dtype=torch.float64)
        if self.t_sampling == "logit-normal":
            return lo + (hi - lo) * torch.sigmoid(z)
        log_sigma = self.cfg.p_mean + self.cfg.p_std * z           # log(sigma / alpha)
        t = p.t_of_logsnr(-2.0 * log_sigma)
        return torch.clamp(t, lo, hi)

    def target(self, x0: Tensor, eps: Tensor, c: dict[str, Tensor]) -> Tensor:
        kind = self.cfg.target
        if kind == "eps":
            return eps
        if kind == "x0":
            return x0
        if kind == "v":
            return c["alpha"] * eps - c["sigma"] * x0
        return c["dalpha"] * x0 + c["dsigma"] * eps

    def x0_factor(self, c: dict[str, Tensor]) -> Tensor:
        """k(t): |d target / d x0-error| at fixed x_t (float64)."""
        a, s = c["alpha"], c["sigma"]
        kind = self.cfg.target
        if kind == "eps":
            return a / s
        if kind == "x0":
            return torch.ones_like(a)
        if kind == "v":
            return (a * a + s * s) / s
        return (a * c["dsigma"] - c["dalpha"] * s) / s

    def weight(self, c: dict[str, Tensor]) -> Tensor:
        """Per-sample weight on the squared error of the target (float64)."""
        if self.weighting == "none":
            return torch.ones_like(c["alpha"])
        if self.weighting == "edm":
            return 1.0 / c["c_out"] ** 2
        k2 = self.x0_factor(c) ** 2
        snr = (c["alpha"] / c["sigma"]) ** 2
        return torch.clamp(snr, max=self.cfg.min_snr_gamma) / k2

    def loss(self, model: DenoisingModel, x0: Tensor, eps: Tensor, t: Tensor,
             labels: Tensor | None) -> Tensor:
        """The mean weighted loss of one batch (x0, eps in the module's dtype and device)."""
        c = model.coefficients(t)
        view = (x0.shape[0],) + (1,) * (x0.ndim - 1)
        cast = lambda v: v.to(x0.device, x0.dtype).reshape(view)  # noqa: E731
        x_t = cast(c["alpha"]) * x0 + cast(c["sigma"]) * eps
        if self.cfg.target == "classifier":
            return torch.nn.functional.cross_entropy(model.raw(x_t, c, None), labels)
        raw = model.raw(x_t, c, labels)
        dims = tuple(range(1, x0.ndim))
        target = self.target(x0, eps, {k: cast(v) for k, v in c.items()})
        w = self.weight(c)
        if model.precond == "edm":
            # Regress the raw output on its effective target (y - c_skip x_t) / c_out.
            target = (target - cast(c["c_skip"]) * x_t) / cast(c["c_out"])
            w = w * c["c_out"] ** 2                       # target-space weight -> F space
        per = ((raw - target) ** 2).mean(dim=dims)
        return (w.to(per.device, per.dtype) * per).mean()

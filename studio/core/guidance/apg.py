"""Adaptive projected guidance (Sadat, Hilliges & Weber 2024, "Eliminating Oversaturation and
Artifacts of High Guidance Scales in Diffusion Models", Algorithm 1).

CFG's update in the denoised (x0) space, D = D_c + (w - 1) Delta with Delta = D_c - D_u, is
reshaped in three ways:

    momentum   Delta <- Delta + beta * running average (beta < 0 pushes against the history);
               the running average is that momentum-corrected Delta, reset at every run start;
    rescale    Delta <- Delta * min(1, r / ||Delta||)        (per sample; r = inf: off)
    project    Delta_par = (<Delta, D_c> / <D_c, D_c>) D_c,  Delta_perp = Delta - Delta_par
               D = D_c + (w - 1) (Delta_perp + eta Delta_par)

eta = 1, beta = 0 and r = inf give CFG exactly; the paper's eta = 0 drops the parallel component,
which drives oversaturation. w = 1 is the conditional model exactly (one evaluation, no doubling).
The result is returned in the network's own parameterization at the same x.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..parameterization import from_x0_eps, to_x0_eps
from ..params import param
from ..registry import GUIDANCE
from ._pairs import cond_uncond, per_sample_dot
from .base import Guidance


@GUIDANCE.register("apg")
@dataclass
class APG(Guidance):
    """Adaptive projected guidance: CFG with the update split parallel/orthogonal to the
    conditional prediction, norm-limited and with reverse momentum (labels from run.labels)."""

    title = "Adaptive projected guidance (APG)"
    scale: float = param(5.0, "guidance scale w (as CFG's); 1 = the conditional model", min=0.0,
                         max=100.0)
    eta: float = param(0.0, "weight of the update parallel to D_c (1 with beta 0, r inf = CFG)",
                       min=0.0, max=1.0)
    norm_threshold: float = param(15.0, "r: the update's per-sample norm limit (0 = no limit)",
                                  min=0.0)
    momentum: float = param(-0.5, "beta: running-average momentum (paper: negative)", min=-1.0,
                            max=1.0)

    def __post_init__(self):
        self._avg = None

    def drive(self, solver, ctx, x, ts):
        self._avg = None   # a fresh momentum buffer for every run
        return solver.sample(ctx, x, ts)

    def guide(self, net, kind, x, t, coeffs, labels):
        if self.scale == 1.0:
            if labels is None:
                cond_uncond(net, x, t, labels, "apg")   # the same clear error
            return kind, net(x, t, labels)
        cond, uncond = cond_uncond(net, x, t, labels, "apg")
        d_c, _ = to_x0_eps(kind, cond, x, coeffs)
        d_u, _ = to_x0_eps(kind, uncond, x, coeffs)
        delta = d_c - d_u
        if self.momentum != 0.0:
            if self._avg is not None and self._avg.shape == delta.shape:
                delta = delta + self.momentum * self._avg
            self._avg = delta
        if self.norm_threshold > 0 and math.isfinite(self.norm_threshold):
            norm = per_sample_dot(delta, delta).sqrt()
            delta = delta * torch.clamp(self.norm_threshold / norm.clamp_min(1e-30), max=1.0)
        par = per_sample_dot(delta, d_c) / per_sample_dot(d_c, d_c).clamp_min(1e-30) * d_c
        x0 = d_c + (self.scale - 1.0) * ((delta - par) + self.eta * par)
        eps = (x - coeffs.alpha * x0) / coeffs.sigma
        return kind, from_x0_eps(kind, x0, eps, coeffs)

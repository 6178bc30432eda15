"""Null-space projection (DDNM; Wang, Yu & Zhang 2023, "Zero-Shot Image Restoration Using
Denoising Diffusion Null-Space Model").

The x0-prediction keeps its null-space part and takes its range part from y:
x0 <- x0 - lam_t A^+(A x0 - y). With sigma_y = 0, lam_t = 1 and every x0 (the final one included)
satisfies A x0 = y exactly. With noise, DDNM+ shrinks the correction so that the noise it brings
in (lam_t sigma_y) stays within the noise level of the current step; here the step's level is
the current one, lam_t = min(1, sigma_t / (alpha_t sigma_y)), which needs no knowledge of the
solver. Optional time-travel (DDNM+'s resampling, as in RePaint): ``resamples`` > 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inverse.guidance import InverseGuidance, col, per_sample, resampling_drive
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("ddnm")
@dataclass
class DDNM(InverseGuidance):
    """Range-null-space decomposition: x0 <- x0 - lam_t A^+(A x0 - y)."""

    title = "DDNM (null-space projection)"
    jump_length: int = param(10, "time-travel: steps to jump back", min=1)
    resamples: int = param(1, "time-travel: times each stretch is run (1 = off)", min=1)

    def guide(self, net, kind, x, t, coeffs, labels):
        x0 = self.x0_of(net, kind, x, t, coeffs, labels)
        y = self.y_like(x0)
        corr = self.op.pinv(self.op.measured(self.op.forward(x0)) - y)
        if self.sy > 0:
            lam = torch.clamp(per_sample(coeffs.sigma / coeffs.alpha) / self.sy, max=1.0)
            corr = col(lam, corr) * corr
        return "x0", x0 - corr

    def drive(self, solver, ctx, x, ts):
        if self.resamples <= 1:
            return solver.sample(ctx, x, ts)
        return resampling_drive(solver, ctx, x, ts, lambda x_t, i: x_t, self.jump_length,
                                self.resamples)

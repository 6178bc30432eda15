"""Replacement of the measured part of x_t at every step (RePaint; Lugmayr et al. 2022,
"RePaint: Inpainting using Denoising Diffusion Probabilistic Models"), for any operator with a
pseudo-inverse, with optional resampling jumps.

After each solver step to time t the range part of x_t is replaced by a fresh sample of the noised
measurement: x_t <- x_t + A^+(alpha_t y + sigma_t A z - A x_t), z ~ N(0, I). For inpainting that is
RePaint's x_t = m * (alpha_t y + sigma_t z) + (1 - m) * x_t. The final x0 gets the same replacement
(x0 <- x0 + A^+(y - A x0)), so with sigma_y = 0 the result satisfies A x0 = y exactly (for y in the
range of A). The measurement is treated as exact: sigma_y is not used. RePaint's own settings are
250 steps, jump_length 10, resamples 10; resamples 1 (the default) turns the jumps off.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..inverse.guidance import InverseGuidance, final_prediction, resampling_drive
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("replace")
@dataclass
class Replace(InverseGuidance):
    """RePaint-style replacement of the known part of x_t (treats y as noiseless)."""

    title = "Replacement (RePaint)"
    jump_length: int = param(10, "resampling: steps to jump back (RePaint: 10)", min=1)
    resamples: int = param(1, "resampling: times each stretch is run (1 = no jumps; RePaint: 10)",
                           min=1)

    def drive(self, solver, ctx, x, ts):
        p = ctx.process

        def after(x_t, i):
            y = self.y_like(x_t)
            noisy = p.alpha(ts[i]).to(x_t.dtype) * y \
                + p.sigma(ts[i]).to(x_t.dtype) * self.op.forward(ctx.randn_like(x_t))
            return x_t + self.op.pinv(noisy - self.op.forward(x_t))

        def final(x_t):
            x0 = ctx(x_t, ts[-1]).x0
            return final_prediction(ctx, x_t, ts[-1], self.op.project(x0, self.y_like(x0)))

        return resampling_drive(solver, ctx, x, ts, after, self.jump_length, self.resamples, final)

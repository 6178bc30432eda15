"""Filtering Posterior Sampling (FPS; Dou & Song 2024, "Diffusion Posterior Sampling for Linear
Inverse Problem Solving: A Filtering Perspective", ICLR 2024, Algorithms 1-2 (FPS-SMC)) for a
linear measurement y = A x + sigma_y n.

FPS first draws a sequence of noisy measurements y_{t_0}, ..., y_{t_n} = y that follows the
forward process of the measurement, y_t = alpha_t y + e_t with e_t = A (x_t - alpha_t x0) the
measured part of the forward noise (e_t ~ N(0, sigma_t^2 A A^T)). It is sampled backwards as a
bridge pinned at e = 0 at t = 0: e_{t_0} = sigma_{t_0} A z and, for s < t, the ancestral step of
that process towards 0,

    e_s = sqrt(sigma_s^2 - c^2) e_t / sigma_t + c A z,   c^2 as in the reverse kernel;

one sequence per population (its particles filter the same sequence). The filter conditions each
particle on the next measurement of the sequence with the potential

    g_t(x_t) = N(y_t; A x_t, (c_y^2 sigma_t^2 + alpha_t^2 sigma_y^2) I)

(the paper's c, here ``c_y``, scales the measurement-sequence noise), proposes from the locally
optimal q(x_s | x_t) ∝ p(x_s | x_t) g_s(x_s) (a Gaussian, sampled exactly by Matheron's rule with
the operator's own maps) and weighs by N(y_s; A m_t, c^2 A A^T + s2 I) / g_t(x_t). At the last grid
time y_t = y up to sigma_{t_n} and the potential is the likelihood: the populations target the
posterior and FPS-SMC is asymptotically exact in K. One network evaluation per step, plus the
final denoise; no gradients.

K = 1 is the base sampler, FPS itself (the paper's Algorithm 1: the same proposals, no weights).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inverse.particles import (ParticleGuidance, gaussian_move, log_potential,
                                 step_var)
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("fps")
@dataclass
class FPS(ParticleGuidance):
    """Filtering posterior sampling: SMC along a sampled sequence of noisy measurements."""

    title = "FPS (filtering posterior sampling, particles)"
    c_y: float = param(3.0, "scale c of the potential's variance c^2 sigma_t^2 + alpha_t^2 "
                            "sigma_y^2; the final target does not depend on it, the weights' "
                            "balance does (c = 1 collapses the ESS on a 2-D ring; 3 keeps it "
                            "above 0.1 K)", min=1e-6)

    def _measurements(self, ctx, x, ts):
        """The sequence y_{t_i} [n + 1] x [B, *out], one draw per population."""
        p, k = ctx.process, self.particles
        pop = x[::k]
        y = self.y_like(pop)
        n = len(ts) - 1
        e = p.sigma(ts[0]).to(x.dtype) * self.op.forward(ctx.randn_like(pop))
        seq = [None] * (n + 1)
        seq[0] = e
        for i in range(n):
            # the ancestral step of the noise process towards 0 (x0 = 0 in the kernel)
            var = step_var(p, ts[i], ts[i + 1]).to(x.dtype)
            s_t, s_n = p.sigma(ts[i]).to(x.dtype), p.sigma(ts[i + 1]).to(x.dtype)
            keep = torch.sqrt(s_n ** 2 - var) / s_t
            e = keep * e + torch.sqrt(var) * self.op.forward(ctx.randn_like(pop))
            seq[i + 1] = e
        out = []
        for i, e_i in enumerate(seq):
            a = p.alpha(ts[i]).to(x.dtype)
            out.append(torch.repeat_interleave(a * y + e_i, k, dim=0))
        return out

    def _s2(self, ctx, t, like):
        p = ctx.process
        a, s = p.alpha(t).to(like.dtype), p.sigma(t).to(like.dtype)
        return (self.c_y * s) ** 2 + (a * self.sy) ** 2

    def begin(self, ctx, x, ts):
        self._ys = self._measurements(ctx, x, ts)
        return {"logg": log_potential(self.op, x, self._ys[0], 0.0, self._s2(ctx, ts[0], x))}

    def move(self, ctx, x, state, ts, i):
        pred = ctx(x, ts[i])
        x0 = pred.x0
        mean, var, _ = self.prior_kernel(ctx.process, x, x0, state, ts, i)
        b, s2 = self._ys[i + 1], self._s2(ctx, ts[i + 1], x)
        xs, log_pred = gaussian_move(ctx, self.op, mean, var, b, 0.0, s2)
        logg = log_potential(self.op, xs, b, 0.0, s2)
        return xs, self.history({"logg": logg}, x0), log_pred - state["logg"], x0

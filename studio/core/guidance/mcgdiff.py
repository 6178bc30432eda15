"""MCGdiff (Cardoso, Janati el Idrissi, Le Corff & Moulines 2023, "Monte Carlo guided Diffusion for
Bayesian linear inverse problems", ICLR 2024, Algorithm 1) for a linear measurement
y = A x + sigma_y n.

A particle filter (:mod:`studio.core.inverse.particles`) whose potential compares the particle's
measurement with the *forward-noised* measurement: if x_t = alpha_t x0 + sigma_t eps and
y = A x0 + sigma_y n, then alpha_t y - A x_t = alpha_t sigma_y n - sigma_t A eps, so

    g_t(x_t) = N(alpha_t y; A x_t, sigma_t^2 A A^T + alpha_t^2 sigma_y^2 I).

In the SVD basis of A (A = U S V^T) this is the paper's potential on the observed coordinates,
N(alpha_t ybar; xbar_t, sigma_t^2 + alpha_t^2 sigma_y^2 / s_j^2), ybar = S^-1 U^T y; for
sigma_y = 0 it is exactly the paper's noiseless construction, and with noise it keeps the paper's
form with the noise carried through the forward process (rather than the paper's switch time
tau_j per singular value). At t -> 0 the potential is the likelihood, so the populations target
the posterior: asymptotically exact in K.

The proposal is the locally optimal one, the reverse kernel times the next potential,
q(x_s | x_t) ∝ p(x_s | x_t) g_s(x_s): a Gaussian sampled exactly by Matheron's rule with the
operator's own A, A^T and (r2 A A^T + s2 I)^-1 (no SVD is formed, so every operator works, images
included), with incremental weight
N(alpha_s y; A m_t, (c^2 + sigma_s^2) A A^T + alpha_s^2 sigma_y^2 I) / g_t(x_t). No gradients: one network evaluation per step, plus the final denoise. With
sigma_y = 0 the final x0 takes its range part from y (x0 + A^+(y - A x0)), as the paper's last
step does, so A x0 = y holds exactly.

K = 1 is the base sampler: the ancestral chain whose measured part is drawn, at every step, from
the product of the reverse kernel and the forward-noised measurement's Gaussian (no weights act).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..inverse.particles import ParticleGuidance, gaussian_move, log_potential
from ..registry import GUIDANCE


@GUIDANCE.register("mcgdiff")
@dataclass
class MCGdiff(ParticleGuidance):
    """Monte Carlo guided diffusion: SMC towards the forward-noised measurement."""

    title = "MCGdiff (Monte Carlo guided diffusion, particles)"

    def _noise(self, ctx, t, like):
        p = ctx.process
        a, s = p.alpha(t).to(like.dtype), p.sigma(t).to(like.dtype)
        return a, s ** 2, (a * self.sy) ** 2

    def begin(self, ctx, x, ts):
        a, r2, s2 = self._noise(ctx, ts[0], x)
        return {"logg": log_potential(self.op, x, a * self.y_like(x), r2, s2)}

    def move(self, ctx, x, state, ts, i):
        pred = ctx(x, ts[i])
        x0 = pred.x0
        mean, var, _ = self.prior_kernel(ctx.process, x, x0, state, ts, i)
        a, r2, s2 = self._noise(ctx, ts[i + 1], x)
        b = a * self.y_like(x)
        xs, log_pred = gaussian_move(ctx, self.op, mean, var, b, r2, s2)
        logg = log_potential(self.op, xs, b, r2, s2)
        return xs, self.history({"logg": logg}, x0), log_pred - state["logg"], x0

    def final_x0(self, ctx, x, state, ts):
        x0 = ctx(x, ts[-1]).x0
        return self.op.project(x0, self.y_like(x0)) if self.sy == 0 else x0

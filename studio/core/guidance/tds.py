"""The Twisted Diffusion Sampler (TDS; Wu, Trippe, Naesseth, Blei & Cunningham 2023, "Practical
and Asymptotically Exact Conditional Sampling in Diffusion Models", NeurIPS 2023, Algorithm 1).

A particle filter (:mod:`studio.core.inverse.particles`) whose potential is a *twisting function*
built from the network's own x0-prediction: p(y | x_t) is approximated by treating x0 given x_t
as N(x0^(x_t), r_t^2 I),

    g_t(x_t) = N(y; A x0^(x_t), r_t^2 A A^T + sigma_y^2 I),   r_t^2 = v s_t^2 / (v + s_t^2),
    s_t = sigma_t / alpha_t,

(the Gaussian of PiGDM, Song et al. 2023; v = ``data_var``). The proposal is the reverse kernel
with the twisted score, score + grad_x log g_t(x_t): in x0 form x0^ + (sigma_t^2 / alpha_t) grad,

    q(x_s | x_t) = N(m(x0^ + sigma_t^2 / alpha_t grad log g_t), c^2 I),

and the incremental weight is p(x_s | x_t) g_s(x_s) / (q(x_s | x_t) g_t(x_t)), the two Gaussian
kernels sharing their variance c^2. At the last grid time the potential is the exact likelihood
up to the network's (tiny) uncertainty there, so the populations target the posterior and the
method is asymptotically exact in K whatever the twist's quality (the twist sets the variance).

Cost: one network evaluation with gradients per step (the twist at the new particles also gives
the next proposal), plus the first; n steps cost n + 1 evaluations, the final denoise included.

K = 1 is the base sampler: no weights act, and the chain is exactly PiGDM's guided score
(``pigdm``, scale 1, the same ``data_var``) under ancestral sampling (``ddim``, eta = 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inverse.guidance import per_sample
from ..inverse.particles import ParticleGuidance, ancestral, bdot
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("tds")
@dataclass
class TDS(ParticleGuidance):
    """Twisted Diffusion Sampler: SMC with a network-based twist and twisted proposals."""

    title = "TDS (twisted diffusion sampler, particles)"
    data_var: float = param(1.0, "data variance v in the twist's r_t^2 = v s^2 / (v + s^2)",
                            min=1e-12)

    def _twist(self, ctx, x, t):
        """(x0^, the twisted x0, log g_t [B]) at (x, t); one evaluation with gradients."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            pred = ctx(xg, t)
            x0 = pred.x0
            self.needs_grad(x0)
            c = pred.coeffs
            s2 = per_sample(c.sigma / c.alpha) ** 2
            r2 = self.data_var / (1.0 + self.data_var / s2)
            r = self.y_like(x0) - self.op.measured(self.op.forward(x0.detach()))
            u = self.op.gram_solve(r, r2, self.sy ** 2)
            (g,) = torch.autograd.grad(x0, xg, grad_outputs=self.op.adjoint(u))
        a = c.alpha
        factor = torch.where(a > 0, c.sigma ** 2 / torch.where(a > 0, a, torch.ones_like(a)),
                             torch.zeros_like(a))
        x0 = x0.detach()
        x0_twisted = (x0 + factor * g).to(x0.dtype)
        return x0, x0_twisted, -0.5 * bdot(r, u).detach()

    def begin(self, ctx, x, ts):
        x0, x0t, logg = self._twist(ctx, x, ts[0])
        return {"x0": x0, "x0t": x0t, "logg": logg}

    def move(self, ctx, x, state, ts, i):
        p = ctx.process
        mean, var, corr = self.prior_kernel(p, x, state["x0"], state, ts, i)
        mean_t, _ = ancestral(p, x, state["x0t"], ts[i], ts[i + 1])
        mean_t = (mean_t + corr).to(x.dtype)     # the twisted proposal: the kernel, shifted
        xs = (mean_t + torch.sqrt(var) * ctx.randn_like(x)).to(x.dtype)
        # log p(x_s | x_t) - log q(x_s | x_t): same variance, different means
        log_ratio = (bdot(xs - mean_t, xs - mean_t) - bdot(xs - mean, xs - mean)) / (2 * var)
        x0, x0t, logg = self._twist(ctx, xs, ts[i + 1])
        inc = log_ratio + logg - state["logg"]
        new = self.history({"x0": x0, "x0t": x0t, "logg": logg}, state["x0"])
        return xs, new, inc, state["x0t"]

    def final_x0(self, ctx, x, state, ts):
        # the twisted x0 at the last particles (as PiGDM's final denoise): no extra evaluation
        return state["x0t"]

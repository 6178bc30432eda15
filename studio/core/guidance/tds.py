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

``twist = "tweedie"`` replaces the isotropic r_t^2 I by the posterior covariance of x0 given x_t
that the network itself implies (Tweedie's second-order formula; as in TMPD, Boys et al. 2023,
"Tweedie Moment Projected Diffusions for Inverse Problems"):

    Cov[x0 | x_t] = (sigma_t^2 / alpha_t) d x0^ / d x_t,
    g_t(x_t) = N(y; A x0^, A Cov[x0 | x_t] A^T + sigma_y^2 I)

(its log-determinant now differs between particles and is part of log g_t). For Gaussian data
this twist *is* p(y | x_t), whatever the covariance, so the weights carry only the proposal's
discretisation error (the twisted kernel is a first-order approximation of the exact
conditional one, largest in the last, coarse steps of a uniform grid); on a mixture it
follows the spread between the modes that x_t has not yet decided on, where the isotropic twist
misjudges their relative mass and the weights (hence resampling) must correct it: the populations'
mode shares then vary about as much as independent samples' (bimodal 4-D bed, K = 1000, 30
run seeds: a population's mode-weight sd 0.016, against 0.020 with ``pigdm`` and 0.015 for iid
samples; ``benchmarks/particle_spread.py``). The
proposal shifts by sigma_t^2 / alpha_t J^T A^T S^-1 (y - A x0^) (S's own dependence on x_t is
left out of the shift; the weights account for the proposal as it is, so they stay exact). The
cost is one backward pass per measured value (the rows of A J), so the measurement may have at
most ``TWEEDIE_MAX`` values; the covariance's symmetric part is used, its negative eigenvalues (a
network that is not an exact denoiser) set to zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ParamError
from ..inverse.guidance import per_sample
from ..inverse.particles import ParticleGuidance, ancestral, bdot
from ..params import param
from ..registry import GUIDANCE

TWISTS = ("pigdm", "tweedie")
#: most measured values the ``tweedie`` twist accepts (one backward pass and one row of an m x m
#: eigendecomposition per value and particle)
TWEEDIE_MAX = 64


def sigma2_over_alpha(c):
    """sigma_t^2 / alpha_t (0 where alpha_t = 0), the step from a score to its x0-shift and
    Tweedie's factor from dx0^/dx_t to Cov[x0 | x_t]."""
    a = c.alpha
    return torch.where(a > 0, c.sigma ** 2 / torch.where(a > 0, a, torch.ones_like(a)),
                       torch.zeros_like(a))


@GUIDANCE.register("tds")
@dataclass
class TDS(ParticleGuidance):
    """Twisted Diffusion Sampler: SMC with a network-based twist and twisted proposals."""

    title = "TDS (twisted diffusion sampler, particles)"
    data_var: float = param(1.0, "data variance v in the twist's r_t^2 = v s^2 / (v + s^2)",
                            min=1e-12)
    twist: str = param("pigdm", "the twisting function's covariance of x0 given x_t: pigdm "
                       "(isotropic r_t^2 I from data_var; K = 1 is pigdm) or tweedie (the "
                       "network's own, (sigma^2 / alpha) dx0/dx_t: exact for Gaussian data, far "
                       "flatter weights on mixtures; one backward pass per measured value, at "
                       f"most {TWEEDIE_MAX})", choices=TWISTS)

    def _twist(self, ctx, x, t):
        """(x0^, the twisted x0, log g_t [B]) at (x, t); one evaluation with gradients."""
        if self.twist == "tweedie":
            return self._tweedie_twist(ctx, x, t)
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
        x0 = x0.detach()
        x0_twisted = (x0 + sigma2_over_alpha(c) * g).to(x0.dtype)
        return x0, x0_twisted, -0.5 * bdot(r, u).detach()

    def _measured_rows(self, x):
        """The unit vectors e_i of the measured entries [m, *out_shape] and A^T e_i [m, *data]."""
        key = (x.device, x.dtype, tuple(x.shape[1:]))
        if getattr(self, "_rows", (None,))[0] != key:
            self.y_like(x[:1])                       # binds the operator to the data shape
            mask = self.op.measured(torch.ones((1,) + tuple(self.op.out_shape), dtype=x.dtype,
                                               device=x.device))[0]
            idx = torch.nonzero(mask.reshape(-1) != 0).reshape(-1)
            if len(idx) > TWEEDIE_MAX:
                raise ParamError(f"twist 'tweedie' needs one backward pass per measured value; "
                                 f"this measurement has {len(idx)} (at most {TWEEDIE_MAX}): use "
                                 f"twist 'pigdm'", "twist")
            e = torch.zeros((len(idx), mask.numel()), dtype=x.dtype, device=x.device)
            e[torch.arange(len(idx)), idx] = 1.0
            e = e.reshape((len(idx),) + tuple(self.op.out_shape))
            self._rows = (key, idx, self.op.adjoint(e))
        return self._rows[1], self._rows[2]

    def _tweedie_twist(self, ctx, x, t):
        idx, at_rows = self._measured_rows(x)
        b, m = x.shape[0], len(idx)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            pred = ctx(xg, t)
            x0 = pred.x0
            self.needs_grad(x0)
            aj = torch.stack([torch.autograd.grad(x0, xg, grad_outputs=at_rows[i].expand_as(x0),
                                                  retain_graph=i < m - 1)[0].reshape(b, -1)
                              for i in range(m)], 1).to(torch.float64)         # A J  [B, m, D]
        scale = per_sample(sigma2_over_alpha(pred.coeffs)).to(torch.float64).expand(b)
        x0 = x0.detach()
        # A Cov A^T = scale (A J) A^T: apply A to each row of A J, keep the measured entries
        rows = aj.reshape((b * m,) + tuple(x0.shape[1:])).to(x0.dtype)
        acat = self.op.forward(rows).reshape(b, m, -1)[..., idx].to(torch.float64)
        cov = scale[:, None, None] * acat
        cov = 0.5 * (cov + cov.transpose(1, 2))
        lam, vec = torch.linalg.eigh(cov)
        lam = lam.clamp_min(0.0) + self.sy ** 2
        lam = lam.clamp_min(1e-12 * float(lam.max().clamp_min(1e-300)))  # sigma_y = 0, t -> 0
        r = (self.y_like(x0) - self.op.measured(self.op.forward(x0))).reshape(b, -1)[:, idx]
        r = r.to(torch.float64)
        proj = torch.einsum("bmk,bm->bk", vec, r)
        u = torch.einsum("bmk,bk->bm", vec, proj / lam)                          # S^-1 r
        logg = -0.5 * (proj ** 2 / lam).sum(1) - 0.5 * torch.log(lam).sum(1)
        g = torch.einsum("bmd,bm->bd", aj, u).reshape(x0.shape)
        x0_twisted = (x0 + (scale.reshape((b,) + (1,) * (x0.ndim - 1)) * g).to(x0.dtype))
        return x0, x0_twisted, logg

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

"""CFG++ (Chung, Kim, Park, Nam & Ye 2024, "CFG++: Manifold-constrained Classifier Free Guidance
for Diffusion Models", Algorithm 1).

CFG extrapolates off the data manifold at large scales. CFG++ interpolates instead, with lambda in
[0, 1], and renoises with the UNCONDITIONAL noise estimate:

    x0_lam  = x0_u + lam (x0_c - x0_u)
    x_next  = alpha_next x0_lam + sigma_next eps_u          (the DDIM form)

Because the renoising noise is not the one consistent with x0_lam at x, CFG++ is a sampler, not a
prediction: like RED-diff it takes only the time grid from the solver and runs its own update, one
doubled-batch evaluation a step (the final denoise uses x0_lam). On the EDM process this is the
Euler form x_next = x0_lam + sigma_next (x - x0_u) / sigma of the paper's appendix. lam = 0 is the
unconditional model's DDIM run exactly; no lam reproduces the conditional model (lam = 1 uses its
x0 but still renoises with eps_u, by design). The paper's lam ~ 0.2-0.8 corresponds to CFG scales
of ~ 2-13 at 50 steps; lam > 1 is allowed for experiments.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..parameterization import from_x0_eps, to_x0_eps
from ..params import param
from ..registry import GUIDANCE
from ._pairs import cond_uncond
from .base import Guidance


@GUIDANCE.register("cfg++")
@dataclass
class CFGPlusPlus(Guidance):
    """CFG++: interpolated x0, renoised with the unconditional noise (its own DDIM-form update on
    the solver's time grid; labels from run.labels)."""

    title = "CFG++ (manifold-constrained CFG)"
    lam: float = param(0.6, "lambda: x0 = x0_u + lambda (x0_c - x0_u); 0 = unconditional model",
                       min=0.0, max=2.0)

    def __post_init__(self):
        self._eps_u = None

    def guide(self, net, kind, x, t, coeffs, labels):
        cond, uncond = cond_uncond(net, x, t, labels, "cfg++")
        x0_c, _ = to_x0_eps(kind, cond, x, coeffs)
        x0_u, eps_u = to_x0_eps(kind, uncond, x, coeffs)
        self._eps_u = eps_u
        x0 = x0_u + self.lam * (x0_c - x0_u)
        eps = (x - coeffs.alpha * x0) / coeffs.sigma
        return kind, from_x0_eps(kind, x0, eps, coeffs)

    def drive(self, solver, ctx, x, ts):
        from ..solvers.base import Step
        p = ctx.process
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            t1 = ts[i + 1]
            a1, s1 = p.alpha(t1).to(x.dtype), p.sigma(t1).to(x.dtype)
            x = (a1 * pred.x0 + s1 * self._eps_u).to(x.dtype)
            yield Step(i + 1, x, pred.x0)

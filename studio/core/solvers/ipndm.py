"""iPNDM (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator",
improved PNDM): Adams-Bashforth on the noise prediction in the EDM variables, warm-started by
lower-order Adams-Bashforth steps instead of PNDM's Runge-Kutta ones."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import SOLVERS
from ._common import AB_WEIGHTS, ab
from ._common import ddim_transfer as transfer
from .base import Solver, Step


@SOLVERS.register("ipndm")
@dataclass
class IPNDM(Solver):
    """In x/alpha and sigma_edm = sigma/alpha the PF-ODE is d(x/alpha)/d sigma_edm = eps; iPNDM
    steps it with the equal-step Adams-Bashforth weights of order min(i + 1, 4) on the last noise
    predictions: x_{i+1}/alpha_{i+1} = x_i/alpha_i + (sigma_edm_{i+1} - sigma_edm_i) e'_i. One
    evaluation per step; the first step is Euler (= DDIM).

    The weights are those of equal steps, as in the paper, so the method is of order 4 on grids
    uniform in sigma_edm only; on a smoothly graded grid (Karras, log-SNR) the mismatch between
    step sizes costs O(h^3) per step and the order is 2 (measured 2.0 on the Karras grid), which
    is what ``order`` declares. ``lms`` is the variable-step version."""

    title = "iPNDM (improved PNDM, Adams-Bashforth up to 4 steps)"
    order = 2

    def sample(self, ctx, x, ts):
        p = ctx.process
        ets: list = []
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            ets = (ets + [pred.eps])[-4:]
            if len(ets) == 1:  # Euler, written to stay finite where alpha_i = 0
                a, s = ab(p, ts[i + 1])
                x = (a * pred.x0 + s * pred.eps).to(pred.eps.dtype)
            else:
                e = sum(w * ek for w, ek in zip(AB_WEIGHTS[len(ets)], reversed(ets)))
                x = transfer(p, x, ts[i], ts[i + 1], e)
            yield Step(i + 1, x, pred.x0)

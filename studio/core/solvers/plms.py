"""PLMS, the pseudo linear multistep method of PNDM (Liu et al. 2022, "Pseudo Numerical Methods
for Diffusion Models on Manifolds"), started as diffusers' PNDMScheduler(skip_prk_steps=True)."""
from __future__ import annotations

from dataclasses import dataclass

from ..model import Prediction
from ..registry import SOLVERS
from ._common import AB_WEIGHTS, ab, from_pure_noise, lam, rho_rk
from ._common import ddim_transfer as transfer
from .base import Solver, Step

#: Heun's method (trapezoidal rule) as a Butcher tableau, for a first step from alpha = 0
_HEUN = ([0.0, 1.0], [[0.0, 0.0], [1.0, 0.0]], [0.5, 0.5])


@SOLVERS.register("plms")
@dataclass
class PLMS(Solver):
    """x_{i+1} = phi(x_i, e'_i, t_i -> t_{i+1}), phi the transfer (a DDIM step with a given noise
    estimate) and e'_i the Adams-Bashforth combination of the last (up to 4) noise predictions,
    (55 e_i - 59 e_{i-1} + 37 e_{i-2} - 9 e_{i-3}) / 24 once four are known (equal-step weights,
    whatever the spacing). The first step is a pseudo improved Euler step: transfer with e_0,
    evaluate there (e_1), and transfer again with (e_0 + e_1) / 2 (2 evaluations; e_1 is then
    dropped); the next ones use 2- and 3-step weights. The final denoise is PLMS's last transfer
    to alpha = 1 with the combination that includes the evaluation at the last time, exactly as
    PNDMScheduler's last step: x0 = (x - sigma e') / alpha.

    Like iPNDM's, the equal-step weights give order 4 only on grids uniform in sigma_edm; on
    graded grids (diffusers' timesteps among them) the order is 2 (measured 2.0, Karras grid).
    """

    title = "PLMS (PNDM pseudo linear multistep)"
    order = 2
    reuses_final_eval = True

    def nfe_for_steps(self, steps: int) -> int:
        # the first step evaluates twice; the final denoise evaluates once more
        return steps + 1 + (1 if self.denoise_final else 0)

    def sample(self, ctx, x, ts):
        p = ctx.process
        n = len(ts) - 1
        ets: list = []
        x0_used = None
        for i in range(n):
            pred = ctx(x, ts[i])
            ets = (ets + [pred.eps])[-4:]
            x0_used = pred.x0
            if i > 0:
                e = sum(w * ek for w, ek in zip(AB_WEIGHTS[len(ets)], reversed(ets)))
                x = transfer(p, x, ts[i], ts[i + 1], e)
            elif from_pure_noise(lam(p, ts[0]), lam(p, ts[1])):  # no transfer from alpha = 0
                x, _ = rho_rk(ctx, x, ts[0], ts[1], *_HEUN, first=pred)
            else:
                a1, s1 = ab(p, ts[1])
                e1 = ctx(a1 * pred.x0 + s1 * pred.eps, ts[1]).eps
                x = transfer(p, x, ts[0], ts[1], 0.5 * (pred.eps + e1))
            if i < n - 1 or not self.denoise_final:
                yield Step(i + 1, x, x0_used)
        if self.denoise_final:
            # the last transfer, to alpha = 1, with the multistep combination: the final denoise
            pred = ctx(x, ts[n])
            ets = (ets + [pred.eps])[-4:]
            e = sum(w * ek for w, ek in zip(AB_WEIGHTS[len(ets)], reversed(ets)))
            yield Step(n, x, x0_used, final=Prediction(pred.x, pred.t, pred.coeffs, "eps", e))

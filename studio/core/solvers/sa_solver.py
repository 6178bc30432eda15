"""SA-Solver (Xue, Yi, Zhu, Xu, Zhang, Yu & Lu 2023, "SA-Solver: Stochastic Adams Solver for Fast
Sampling of Diffusion Models"): multistep stochastic Adams predictor and corrector on the data
prediction, for the variance-controlled reverse SDE family

    dx = [f x - (1 + tau^2)/2 g^2 score] dt + tau g dw        (tau = 0: the PF-ODE; 1: reverse SDE)

which keeps the marginals for every tau. With lambda = log(alpha / sigma), h = lambda_t - lambda_s
and kappa = 1 + tau^2, its exact solution given the data prediction x0(lambda) is (paper, eq. 15)

    x_t = (sigma_t / sigma_s) e^{-tau^2 h} x_s + alpha_t kappa int_{lambda_s}^{lambda_t}
          e^{kappa (u - lambda_t)} x0(u) du + sigma_t sqrt(1 - e^{-2 tau^2 h}) xi.

The SA-Predictor replaces x0(u) by the Lagrange polynomial through the last ``predictor_order``
evaluations (order p); the SA-Corrector by the one through the new evaluation at t and the last
``corrector_order`` - 1 earlier ones, with the SAME xi (order min(c, p + 1) at tau = 0;
the paper's default p = 3, c = 4). The evaluation at the predicted point serves
the corrector and the next predictor (one evaluation a step); the last corrector runs on the
evaluation at the final time, which the final denoise reuses. The weights
int e^{kappa v} l_j(v) dv are exact (Gauss-Legendre for kappa h < 4, the closed-form recursion for
the moments int e^{kappa v} v^m dv beyond). The first steps use lower orders; a step that starts
where alpha = 0 is first order (the data-prediction form is regular there) and starts a new history.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..params import param
from ..registry import SOLVERS
from ._common import ab, lagrange_integrals, lam
from .base import Solver, Step


def exp_weights(nodes, lam_s: float, lam_t: float, kappa: float) -> list[float]:
    """kappa int_{lam_s}^{lam_t} e^{kappa (u - lam_t)} l_j(u) du for the Lagrange basis on nodes."""
    h = lam_t - lam_s
    if kappa * h < 4.0:
        return [kappa * w for w in lagrange_integrals(
            nodes, lam_s, lam_t, weight=lambda u: np.exp(kappa * (u - lam_t)), quad=12)]
    # moments I_m = int_{-h}^0 e^{kappa v} v^m dv by parts (well conditioned for kappa h >= 4)
    k = len(nodes)
    e = math.exp(-kappa * h)
    moments = [(1.0 - e) / kappa]
    for m in range(1, k):
        moments.append(-((-h) ** m) * e / kappa - m / kappa * moments[-1])
    v_nodes = [n - lam_t for n in nodes]
    out = []
    for j, vj in enumerate(v_nodes):
        others = [vk for i, vk in enumerate(v_nodes) if i != j]
        poly = np.poly(others) / np.prod([vj - vk for vk in others]) if others else np.array([1.0])
        coeffs = poly[::-1]          # ascending powers of v
        out.append(kappa * float(sum(c * moments[m] for m, c in enumerate(coeffs))))
    return out


@SOLVERS.register("sa-solver")
@dataclass
class SASolver(Solver):
    """Stochastic Adams predictor-corrector (Xue et al. 2023) on the data prediction; tau sets the
    injected noise (0 = a deterministic multistep ODE solver)."""

    title = "SA-Solver (stochastic Adams predictor-corrector)"
    order = 4   # at tau = 0 with the default orders: min(corrector_order, predictor_order + 1)
    stochastic = True
    reuses_final_eval = True
    tau: float = param(1.0, "noise scale tau of the SDE family (0 = PF-ODE, 1 = reverse SDE)",
                       min=0.0, max=5.0)
    predictor_order: int = param(3, "steps of the SA-Predictor (Adams-Bashforth order)", min=1,
                                 max=4)
    corrector_order: int = param(4, "points of the SA-Corrector, the new one included (0 = off)",
                                 min=0, max=4)

    def is_stochastic(self) -> bool:
        return self.tau > 0

    def nfe_for_steps(self, steps: int) -> int:
        return steps + (1 if self.denoise_final else 0)

    def _update(self, p, x, s, t, nodes, values, noise):
        lam_s, lam_t = lam(p, s), lam(p, t)
        a_t, s_t = ab(p, t)
        s_s = ab(p, s)[1]
        kappa = 1.0 + self.tau ** 2
        h = lam_t - lam_s
        decay = 1.0 if self.tau == 0 else math.exp(-self.tau ** 2 * h)
        if not math.isfinite(lam_s) or len(nodes) == 1:
            ws = [-math.expm1(-kappa * h)]
        else:
            ws = exp_weights(nodes, lam_s, lam_t, kappa)
        out = (s_t / s_s * decay) * x + a_t * sum(w * v for w, v in zip(ws, values))
        if self.tau > 0:
            out = out + (s_t * math.sqrt(-math.expm1(-2.0 * self.tau ** 2 * h))) * noise
        return out.to(x.dtype)

    def sample(self, ctx, x, ts):
        p = ctx.process
        n = len(ts) - 1
        hist: list[tuple[float, object]] = []       # (lambda, x0) of past evaluations
        pred = ctx(x, ts[0])
        for i in range(n):
            s, t = ts[i], ts[i + 1]
            lam_s, lam_t = lam(p, s), lam(p, t)
            if math.isfinite(lam_s):
                hist = (hist + [(lam_s, pred.x0)])[-max(self.predictor_order,
                                                        self.corrector_order, 1):]
                use = hist[-min(self.predictor_order, len(hist)):]
            else:   # alpha = 0: a first-order step, and a new history
                hist, use = [], [(lam_s, pred.x0)]
            noise = ctx.randn_like(x) if self.tau > 0 else None
            x_prev = x
            x = self._update(p, x, s, t, [u for u, _ in use], [v for _, v in use], noise)
            last = i == n - 1
            if last and not self.denoise_final:
                yield Step(i + 1, x, pred.x0)
                break
            new = ctx(x, t)
            if self.corrector_order > 0 and math.isfinite(lam_t) and math.isfinite(lam_s):
                k = min(self.corrector_order - 1, len(hist))
                use = hist[len(hist) - k:] + [(lam_t, new.x0)]
                x = self._update(p, x_prev, s, t, [u for u, _ in use], [v for _, v in use], noise)
            x0_used = pred.x0
            pred = new
            yield Step(i + 1, x, x0_used, final=new if last else None)

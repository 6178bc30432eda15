"""Linear multistep (Adams-Bashforth with variable steps) in sigma_edm, as k-diffusion's
``sample_lms`` (Karras et al. 2022 variables; Crowson's k-diffusion)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..params import param
from ..registry import SOLVERS
from ._common import ab, lagrange_integrals, sigma_edm
from .base import Solver, Step


@SOLVERS.register("lms")
@dataclass
class LMS(Solver):
    """d(x/alpha)/d sigma_edm = eps: integrate the Lagrange polynomial through the last k noise
    predictions exactly over the step (Gauss-Legendre), k = min(i + 1, solver_order):

        x_{i+1}/alpha_{i+1} = x_i/alpha_i + sum_j c_j eps_{i-j},  c_j = int l_j(s) ds over
        [sigma_edm_i, sigma_edm_{i+1}].

    Points where sigma_edm is infinite (alpha = 0) drop out of the polynomial (its basis
    polynomial vanishes there in the limit)."""

    title = "LMS (linear multistep in sigma, k-diffusion)"
    order = 4
    solver_order: int = param(4, "number of noise predictions in the polynomial (its order)",
                              min=1, max=4)

    def sample(self, ctx, x, ts):
        p = ctx.process
        hist: list = []  # (sigma_edm, eps) at earlier points with finite sigma_edm, newest last
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            eps = pred.eps
            s_i, s_next = sigma_edm(p, ts[i]), sigma_edm(p, ts[i + 1])
            a_next, g_next = ab(p, ts[i + 1])
            # c_0 eps_i alone: the Euler step, written to stay finite where alpha_i = 0
            x_new = a_next * pred.x0 + g_next * eps
            if math.isfinite(s_i):
                pts = [(s_i, eps)] + hist[::-1][:self.solver_order - 1]
                if len(pts) > 1:
                    c = lagrange_integrals([s for s, _ in pts], s_i, s_next, quad=4)
                    # sum_j c_j e_j = (s_next - s_i) e_i + sum_{j>0} c_j (e_j - e_i)
                    x_new = x_new + a_next * sum(cj * (ej - eps) for cj, (_, ej) in
                                                 zip(c[1:], pts[1:]))
                hist = (hist + [(s_i, eps)])[-3:]
            x = x_new.to(eps.dtype)
            yield Step(i + 1, x, pred.x0)

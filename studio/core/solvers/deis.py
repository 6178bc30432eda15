"""tAB-DEIS (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator"):
exponential integrator with the noise prediction extrapolated by a polynomial in t."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..params import param
from ..registry import SOLVERS
from ._common import ab, lagrange_integrals
from .base import Solver, Step


@SOLVERS.register("deis")
@dataclass
class DEIS(Solver):
    """The PF-ODE is exactly d(x/alpha)/dt = eps d(sigma/alpha)/dt. tAB-DEIS replaces eps over a
    step by the Lagrange polynomial in t through the last k predictions,
    k = min(i + 1, solver_order):

        x_{i+1} = (alpha_{i+1}/alpha_i) x_i + sum_j C_j eps_{i-j},
        C_j = alpha_{i+1} int_{t_i}^{t_{i+1}} l_j(tau) d(sigma/alpha)/dtau dtau,

    the integrals by Gauss-Legendre quadrature. The first step (k = 1) is DDIM."""

    title = "DEIS (tAB, exponential integrator)"
    order = 3
    solver_order: int = param(3, "number of noise predictions in the polynomial (its order)",
                              min=1, max=3)

    def sample(self, ctx, x, ts):
        p = ctx.process

        def d_sigma_edm(u):  # d(sigma/alpha)/dt = (alpha sigma' - alpha' sigma) / alpha^2
            a, s, da, ds = p.coeffs(torch.as_tensor(u, dtype=torch.float64))
            return ((a * ds - da * s) / (a * a)).cpu().numpy()

        hist: list = []  # (t, eps) at earlier points, newest last
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            eps = pred.eps
            t_i, t_next = float(ts[i]), float(ts[i + 1])
            a_next, g_next = ab(p, t_next)
            # C_0 eps_i alone (sum_j l_j = 1): DDIM, written to stay finite where alpha_i = 0
            x_new = a_next * pred.x0 + g_next * eps
            pts = [(t_i, eps)] + hist[::-1][:self.solver_order - 1]
            if len(pts) > 1:
                c = lagrange_integrals([t for t, _ in pts], t_i, t_next, weight=d_sigma_edm,
                                       quad=16)
                x_new = x_new + a_next * sum(cj * (ej - eps) for cj, (_, ej) in zip(c[1:], pts[1:]))
            hist = (hist + [(t_i, eps)])[-2:]
            x = x_new.to(eps.dtype)
            yield Step(i + 1, x, pred.x0)

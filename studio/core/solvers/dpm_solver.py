"""DPM-Solver (Lu et al. 2022, "DPM-Solver: A Fast ODE Solver for Diffusion Probabilistic Model
Sampling in Around 10 Steps", Algorithms 1-2): singlestep exponential integrators on the noise
prediction, orders 1, 2 and 3.

With lambda = log(alpha / sigma) (half the engine's logsnr) and h = lambda_t - lambda_s, a step of
order k evaluates the network k times: at t_s and at the intermediate times of lambda_s + r h
(r1 = 1/2 for order 2; r1 = 1/3, r2 = 2/3 for order 3). DPM-Solver-1 is DDIM.

A step that starts where alpha = 0 (lambda = -inf: rectified flow and trig at t = 1) has h = inf
(or, numerically, h > 16: e^h amplifies every rounding error of eps beyond use). That step is taken
with the Runge-Kutta method of the same order (Euler / midpoint / Heun's third-order) on the
equivalent data-prediction ODE d(x/sigma)/d(alpha/sigma) = x0, regular at alpha = 0, for the same
k evaluations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..registry import SOLVERS
from ._common import ab, from_pure_noise, lam, rho_rk, t_of_lam
from .base import Solver, Step

#: Butcher tableaus (c, A, b) of the same order, for a first step from alpha = 0
_RK = {
    1: ([0.0], [[0.0]], [1.0]),
    2: ([0.0, 0.5], [[0.0, 0.0], [0.5, 0.0]], [0.0, 1.0]),
    3: ([0.0, 1 / 3, 2 / 3], [[0.0, 0.0, 0.0], [1 / 3, 0.0, 0.0], [0.0, 2 / 3, 0.0]],
        [0.25, 0.0, 0.75]),
}


@dataclass
class _SinglestepDPMSolver(Solver):
    """DPM-Solver-k (Lu et al. 2022); subclasses fix k = ``order``."""

    def sample(self, ctx, x, ts):
        p = ctx.process
        for i in range(len(ts) - 1):
            s, t = ts[i], ts[i + 1]
            lam_s, lam_t = lam(p, s), lam(p, t)
            if from_pure_noise(lam_s, lam_t):
                x, pred = rho_rk(ctx, x, s, t, *_RK[self.order])
            else:
                x, pred = self.step(ctx, x, s, t, lam_s, lam_t)
            yield Step(i + 1, x, pred.x0)

    def step(self, ctx, x, s, t, lam_s, lam_t):
        p = ctx.process
        h = lam_t - lam_s
        a_t, s_t = ab(p, t)
        pred = ctx(x, s)
        x0, eps = pred.x0, pred.eps
        # (alpha_t / alpha_s) x - sigma_t (e^h - 1) eps, written to stay exact as alpha_s -> 0
        x_t = a_t * x0 + s_t * eps
        if self.order == 1:
            return x_t, pred
        if self.order == 2:  # Algorithm 1, r1 = 1/2
            r1 = 0.5
            s1 = t_of_lam(p, lam_s + r1 * h, t, s)
            a1, g1 = ab(p, s1)
            u = a1 * x0 + g1 * eps
            eps1 = ctx(u, s1).eps
            x_t = x_t - (s_t / (2 * r1)) * math.expm1(h) * (eps1 - eps)
            return x_t, pred
        # Algorithm 2, r1 = 1/3, r2 = 2/3
        r1, r2 = 1 / 3, 2 / 3
        s1 = t_of_lam(p, lam_s + r1 * h, t, s)
        s2 = t_of_lam(p, lam_s + r2 * h, t, s)
        a1, g1 = ab(p, s1)
        a2, g2 = ab(p, s2)
        u1 = a1 * x0 + g1 * eps
        d1 = ctx(u1, s1).eps - eps
        u2 = a2 * x0 + g2 * eps - g2 * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * d1
        d2 = ctx(u2, s2).eps - eps
        x_t = x_t - (s_t / r2) * (math.expm1(h) / h - 1) * d2
        return x_t, pred


@SOLVERS.register("dpm-solver-1")
@dataclass
class DPMSolver1(_SinglestepDPMSolver):
    """DPM-Solver-1 (Lu et al. 2022): x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps (DDIM)."""

    title = "DPM-Solver-1 (singlestep, noise prediction)"
    order = 1
    evals_per_step = 1


@SOLVERS.register("dpm-solver-2")
@dataclass
class DPMSolver2(_SinglestepDPMSolver):
    """DPM-Solver-2 (Lu et al. 2022, Algorithm 1 with r1 = 1/2): two evaluations per step."""

    title = "DPM-Solver-2 (singlestep, noise prediction)"
    order = 2
    evals_per_step = 2


@SOLVERS.register("dpm-solver-3")
@dataclass
class DPMSolver3(_SinglestepDPMSolver):
    """DPM-Solver-3 (Lu et al. 2022, Algorithm 2, r1 = 1/3, r2 = 2/3): three evaluations a step."""

    title = "DPM-Solver-3 (singlestep, noise prediction)"
    order = 3
    evals_per_step = 3

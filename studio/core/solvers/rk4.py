"""The classic fourth-order Runge-Kutta method (Kutta 1901) on the probability-flow ODE."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("rk4")
@dataclass
class RK4(Solver):
    """Kutta's classic RK4 on dx/dt = u(x, t): four velocity evaluations per step, at t, twice at
    the midpoint and at the end, combined with weights 1/6, 1/3, 1/3, 1/6."""

    title = "Runge-Kutta 4 (classic, on the PF-ODE velocity)"
    order = 4
    evals_per_step = 4

    def sample(self, ctx, x, ts):
        for i in range(len(ts) - 1):
            t, t_next = ts[i], ts[i + 1]
            h = float(t_next - t)
            t_mid = t + 0.5 * (t_next - t)
            pred = ctx(x, t)
            k1 = pred.velocity
            k2 = ctx(x + (0.5 * h) * k1, t_mid).velocity
            k3 = ctx(x + (0.5 * h) * k2, t_mid).velocity
            k4 = ctx(x + h * k3, t_next).velocity
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            yield Step(i + 1, x, pred.x0)

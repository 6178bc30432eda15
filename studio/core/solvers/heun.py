"""Heun's second-order method (Karras et al. 2022, Algorithm 1)."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("heun")
@dataclass
class Heun(Solver):
    """Euler predictor, trapezoidal corrector: two evaluations per step."""

    title = "Heun (EDM 2nd order ODE)"
    order = 2
    evals_per_step = 2

    def sample(self, ctx, x, ts):
        for i in range(len(ts) - 1):
            h = ts[i + 1] - ts[i]
            pred = ctx(x, ts[i])
            d = pred.velocity
            x_euler = x + h * d
            d_next = ctx(x_euler, ts[i + 1]).velocity
            x = x + 0.5 * h * (d + d_next)
            yield Step(i + 1, x, pred.x0)

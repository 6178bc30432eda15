"""Euler's method on the probability-flow ODE dx/dt = u(x, t)."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("euler")
@dataclass
class Euler(Solver):
    """x_{i+1} = x_i + (t_{i+1} - t_i) u(x_i, t_i). On EDM this is Karras et al.'s Euler."""

    title = "Euler (1st order ODE)"
    order = 1

    def sample(self, ctx, x, ts):
        for i in range(len(ts) - 1):
            pred = ctx(x, ts[i])
            x = x + (ts[i + 1] - ts[i]) * pred.velocity
            yield Step(i + 1, x, pred.x0)

"""Solvers. Importing this package registers every built-in solver."""
from .base import SolveContext, Solver, Step
from . import euler, heun, ddim, dpm_solver_pp_2m  # noqa: F401

__all__ = ["Solver", "Step", "SolveContext"]

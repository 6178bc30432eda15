"""Solvers. Importing this package registers every built-in solver."""
from .base import SolveContext, Solver, Step

__all__ = ["Solver", "Step", "SolveContext"]

from ..plugins import import_all as _import_all

_import_all(__name__, __path__)

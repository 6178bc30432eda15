"""Guidance kinds. Importing this package registers every built-in kind."""
from .base import Guidance

__all__ = ["Guidance"]

from ..plugins import import_all as _import_all

_import_all(__name__, __path__)

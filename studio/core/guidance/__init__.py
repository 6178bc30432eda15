"""Guidance kinds. Importing this package registers every built-in kind."""
from .base import Guidance

__all__ = ["Guidance"]

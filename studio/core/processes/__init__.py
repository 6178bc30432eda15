"""Forward processes. Importing this package registers every built-in process."""
from .base import Process, as_time

__all__ = ["Process", "as_time"]

from ..plugins import import_all as _import_all

_import_all(__name__, __path__)

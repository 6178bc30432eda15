"""Networks. Importing this package registers the analytic networks."""
from .base import Network

__all__ = ["Network"]

from ..plugins import import_all as _import_all

_import_all(__name__, __path__)

"""Networks. Importing this package registers the analytic networks."""
from .base import Network
from . import gmm, empirical, gaussian  # noqa: F401

__all__ = ["Network"]

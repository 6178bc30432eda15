"""Forward processes. Importing this package registers every built-in process."""
from .base import Process, as_time
from . import vp_linear, vp_cosine, sub_vp, ve, edm, rectified_flow, trig, ddpm_discrete  # noqa: F401

__all__ = ["Process", "as_time"]

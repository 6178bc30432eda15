"""Linear inverse problems: measurement operators, exact posteriors for Gaussian-mixture priors,
and the base of the inverse-problem guidance kinds (``studio.core.guidance.{replace, dps, pigdm,
ddnm, red_diff, dds}``)."""
from .. import guidance as _guidance  # noqa: F401 - first: its kinds import .guidance (a cycle)
from .operators import OPERATORS, Operator

__all__ = ["OPERATORS", "Operator"]

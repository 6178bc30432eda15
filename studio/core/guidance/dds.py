"""Decomposed diffusion sampling (DDS; Chung, Lee & Ye 2024, "Decomposed Diffusion Sampler for
Accelerating Large-Scale Inverse Problems").

The x0-prediction is refined by a few conjugate-gradient steps on the measurement, started from
x0_hat and kept in its Krylov subspace (no gradient through the network):

    min_x ||y - A x||^2 + gamma ||x - x0_hat||^2,  i.e.  (A^T A + gamma I) x = A^T y + gamma x0_hat.

gamma = 0 (noiseless) is the paper's data-consistency step; by default gamma follows the noise,
gamma = sigma_y^2 / r_t^2 with r_t^2 = v s_t^2 / (v + s_t^2) (the MAP of N(x0_hat, r_t^2 I) and the
likelihood). The paper uses 5 CG iterations with DDIM (eta > 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..inverse.guidance import InverseGuidance, col, per_sample
from ..inverse.linalg import cg
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("dds")
@dataclass
class DDS(InverseGuidance):
    """A few CG steps on the measurement from the x0-prediction."""

    title = "DDS (decomposed diffusion sampling)"
    cg_steps: int = param(5, "conjugate-gradient iterations per evaluation (paper: 5)", min=1)
    gamma: Optional[float] = param(None, "proximal weight; null: sigma_y^2 / r_t^2", min=0.0)
    data_var: float = param(1.0, "data variance v in r_t^2 (for the automatic gamma)", min=1e-12)

    def guide(self, net, kind, x, t, coeffs, labels):
        x0 = self.x0_of(net, kind, x, t, coeffs, labels)
        if self.gamma is not None:
            gamma = self.gamma
        elif self.sy > 0:
            s2 = per_sample(coeffs.sigma / coeffs.alpha) ** 2
            gamma = self.sy ** 2 * (1.0 / s2 + 1.0 / self.data_var)   # = sigma_y^2 / r_t^2
        else:
            gamma = 0.0
        op = self.op
        b = op.adjoint(self.y_like(x0)) + col(gamma, x0) * x0
        return "x0", cg(lambda v: op.normal(v) + col(gamma, v) * v, b, x0, self.cg_steps)

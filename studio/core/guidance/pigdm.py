"""Pseudoinverse-guided diffusion (PiGDM; Song, Vahdat, Mardani & Kautz 2023, "Pseudoinverse-Guided
Diffusion Models for Inverse Problems").

Approximates p(x0 | x_t) by N(x0_hat, r_t^2 I), which makes p(y | x_t) Gaussian and gives the
guidance (a vector-Jacobian product through the network):

    g = (dx0_hat/dx_t)^T A^T (r_t^2 A A^T + sigma_y^2 I)^-1 (y - A x0_hat),
    r_t^2 = v s_t^2 / (v + s_t^2),  s_t = sigma_t / alpha_t,

v the data variance the paper assumes (1: normalised data). The guided score is score + scale g,
i.e. x0 <- x0_hat + scale (sigma_t^2 / alpha_t) g, so any solver samples the guided dynamics. With
sigma_y = 0 the inverse is taken on the range of A (the paper's A^+ form).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inverse.guidance import InverseGuidance, per_sample
from ..parameterization import convert
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("pigdm")
@dataclass
class PiGDM(InverseGuidance):
    """Pseudoinverse-guided score: Gaussian p(x0 | x_t) with variance r_t^2."""

    title = "PiGDM (pseudoinverse-guided diffusion)"
    scale: float = param(1.0, "guidance weight (1 = the method as derived)", min=0.0)
    data_var: float = param(1.0, "data variance v in r_t^2 = v s^2 / (v + s^2) (paper: 1)",
                            min=1e-12)

    def guide(self, net, kind, x, t, coeffs, labels):
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = convert(net(xg, t, labels), kind, "x0", xg, coeffs)
            s2 = per_sample(coeffs.sigma / coeffs.alpha) ** 2       # inf where alpha = 0
            r2 = self.data_var / (1.0 + self.data_var / s2)
            self.needs_grad(x0)
            r = self.y_like(x0) - self.op.measured(self.op.forward(x0.detach()))
            u = self.op.adjoint(self.op.gram_solve(r, r2, self.sy ** 2))
            (g,) = torch.autograd.grad(x0, xg, grad_outputs=u)
        # sigma^2/alpha g has a finite limit as alpha -> 0, but at alpha = 0 itself x0_hat does not
        # depend on x_t (g = 0): no guidance there
        a = coeffs.alpha
        factor = torch.where(a > 0, coeffs.sigma ** 2 / torch.where(a > 0, a, torch.ones_like(a)),
                             torch.zeros_like(a))
        return "x0", x0.detach() + self.scale * factor * g

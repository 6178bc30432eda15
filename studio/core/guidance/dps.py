"""Diffusion posterior sampling (DPS; Chung, Kim, Mccann, Klasky & Ye 2023, "Diffusion Posterior
Sampling for General Noisy Inverse Problems", Algorithm 1).

At each step the solver advances x_i to x_{i+1} as usual, then
x_{i+1} <- x_{i+1} - zeta_i grad_{x_i} ||y - A x0(x_i)||, the gradient taken through the network's
x0-prediction (one evaluation with gradients per step; the solver reuses it). The paper's step is
zeta' / ||y - A x0|| on the squared norm, i.e. zeta' on the norm itself (its code), with zeta' = 1
for most tasks over 1000 DDPM steps. Here ``zeta`` is that value per step of a ``ref_steps``-step
run: an n-step run applies zeta ref_steps / n per step, so the total pull matches the paper's at any
step count (``ref_steps`` = 0 applies ``zeta`` per step as given). sigma_y is not used: DPS's
normalised step already adapts to the residual.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inverse.guidance import InverseGuidance, cached_context, one_step
from ..params import param
from ..registry import GUIDANCE


@GUIDANCE.register("dps")
@dataclass
class DPS(InverseGuidance):
    """Gradient of the measurement error through the x0-prediction, applied after each step."""

    title = "DPS (diffusion posterior sampling)"
    zeta: float = param(1.0, "step size zeta' on grad ||y - A x0|| per step of a ref_steps run "
                             "(paper: 1.0)", min=0.0)
    ref_steps: int = param(1000, "the step count zeta refers to (paper: 1000 DDPM steps; 0: zeta "
                                 "per step as given)", min=0)

    def drive(self, solver, ctx, x, ts):
        from ..model import Prediction
        from ..solvers.base import Step
        n = len(ts) - 1
        zeta = self.zeta * (self.ref_steps / n if self.ref_steps else 1.0)
        for i in range(n):
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                pred = ctx(xg, ts[i])
                x0 = pred.x0
                self.needs_grad(x0)
                r = self.y_like(x0) - self.op.measured(self.op.forward(x0))
                norm = r.reshape(r.shape[0], -1).norm(dim=1)
                (grad,) = torch.autograd.grad(norm.sum(), xg)
            cached = Prediction(x, pred.t, pred.coeffs, pred.kind, pred.value.detach())
            st = one_step(solver, cached_context(ctx, x, ts[i], cached), x, ts, i)
            x = (st.x - zeta * grad).to(st.x.dtype).detach()
            yield Step(i + 1, x, cached.x0)

"""CFG-Zero* (Fan, Zheng, Wang et al. 2025, "CFG-Zero*: Improved Classifier-Free Guidance for Flow
Matching Models").

Two changes to CFG on the probability-flow velocity v (flow matching's prediction; here the
PF-ODE velocity dx/dt of whatever process the pipeline runs):

    optimised scale  s* = <v_c, v_u> / ||v_u||^2   (per sample: the projection of v_c on v_u)
                     v  = s* v_u + w (v_c - s* v_u)
    zero-init        the first ``zero_init_steps`` solver steps use v = 0 (x stays put), since
                     the early velocity of an imperfect model points the wrong way.

w = 1 with no zero-init steps is the conditional model exactly (one evaluation, no doubling).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..parameterization import convert
from ..params import param
from ..registry import GUIDANCE
from ._pairs import cond_uncond, per_sample_dot
from .base import Guidance


@GUIDANCE.register("cfg-zero-star")
@dataclass
class CFGZeroStar(Guidance):
    """CFG with the optimised unconditional scale s* and zero-initialised first steps (labels
    from run.labels)."""

    title = "CFG-Zero* (optimised scale, zero-init)"
    scale: float = param(4.0, "guidance scale w; 1 (with zero_init_steps 0) = the conditional model",
                         min=0.0, max=100.0)
    zero_init_steps: int = param(0, "solver steps at the start that use zero velocity (paper: 1)",
                                 min=0)

    def __post_init__(self):
        self._step = 0

    def drive(self, solver, ctx, x, ts):
        self._step = 0
        for step in solver.sample(ctx, x, ts):
            self._step = step.i
            yield step

    def guide(self, net, kind, x, t, coeffs, labels):
        if self._step < self.zero_init_steps:
            return "velocity", torch.zeros_like(x)
        if self.scale == 1.0:
            if labels is None:
                cond_uncond(net, x, t, labels, "cfg-zero-star")
            return kind, net(x, t, labels)
        cond, uncond = cond_uncond(net, x, t, labels, "cfg-zero-star")
        v_c = convert(cond, kind, "velocity", x, coeffs)
        v_u = convert(uncond, kind, "velocity", x, coeffs)
        s = per_sample_dot(v_c, v_u) / per_sample_dot(v_u, v_u).clamp_min(1e-30)
        return "velocity", s * v_u + self.scale * (v_c - s * v_u)

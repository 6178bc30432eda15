"""``flow-map``: few-step sampling with a flow map Phi(x, t, s) (one network evaluation per jump).

Along any schedule t_0 > t_1 > ... > t_k (k = 1..8 typically) the sample jumps
x_{i+1} = Phi(x_i, t_i, t_{i+1}). Two stochastic variants are parameters:

* CTM's gamma-sampling (Kim, Lai et al. 2023, "Consistency Trajectory Models", Algorithm 2):
  jump to the earlier time s' whose noise-to-signal ratio is sqrt(1 - gamma^2) times that of
  t_{i+1}, then re-noise to t_{i+1}:

      x_{i+1} = (alpha_{i+1} / alpha_s') Phi(x_i, t_i, s')
                + sqrt(sigma_{i+1}^2 - (alpha_{i+1} sigma_s' / alpha_s')^2) z,

  which keeps the marginal at t_{i+1} for any process (in EDM units: x + gamma t_{i+1} z).
  gamma = 0 is the deterministic anytime-to-anytime jump, gamma = 1 jumps to the data end.
* consistency models' multistep sampling (Song et al. 2023, Algorithm 1): every jump goes to the
  data end of the schedule and is re-noised to the next time (gamma = 1).

The last jump always lands on t_k without re-noising. With an exact flow map (``gaussian``) or a
reference one (``gmm``, ``empirical``: adaptive Dormand-Prince) the deterministic sampler is exact
at every step count: its error is the map's own, so it has no order of convergence to measure
(the solver conformance tests exempt it from the order test for that reason and test exactness
instead). ``denoise_final`` defaults to off: the last jump already lands at the data end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("flow-map")
@dataclass
class FlowMapSampler(Solver):
    """k jumps x <- Phi(x, t_i, t_{i+1}) of a flow-map network; gamma-sampling (CTM) and
    consistency multistep sampling as parameters."""

    title = "Flow map (1-8 jumps; CTM gamma / consistency multistep)"
    order = 1
    #: samples by jumping with the network's flow map (Phi), not by integrating its velocity
    jumps: ClassVar[bool] = True

    denoise_final: bool = param(False, "after the last jump, also apply the denoiser the map "
                                "implies at the last time (one more evaluation)")
    gamma: float = param(0.0, "CTM gamma-sampling: 0 deterministic jumps; 0 < gamma <= 1 jump "
                         "past the next time and re-noise back to it (fresh noise each jump)",
                         min=0.0, max=1.0)
    multistep: bool = param(False, "consistency models' multistep sampling: jump to the data end, "
                            "re-noise to the next time (the same as gamma 1)")

    def num_steps(self) -> int:
        if self.steps is None and self.nfe is None:
            return 2
        return super().num_steps()

    def is_stochastic(self) -> bool:
        return self.multistep or self.gamma > 0

    def sample(self, ctx, x, ts):
        p = ctx.process
        gamma = 1.0 if self.multistep else float(self.gamma)
        n = len(ts) - 1
        t_end = ts[-1]
        for i in range(n):
            t, t_next = ts[i], ts[i + 1]
            if i == n - 1 or gamma == 0.0:
                x = ctx.model.jump(x, t, t_next)
                yield Step(i + 1, x)
                continue
            if gamma >= 1.0:
                s = t_end
            else:
                lam = p.logsnr(t_next) - 2.0 * math.log(math.sqrt(1.0 - gamma * gamma))
                s = torch.clamp(p.t_of_logsnr(lam), float(t_end), float(t_next))
            y = ctx.model.jump(x, t, s)
            a_n, s_n = float(p.alpha(t_next)), float(p.sigma(t_next))
            a_s, s_s = float(p.alpha(s)), float(p.sigma(s))
            k = a_n / a_s
            std = math.sqrt(max(s_n * s_n - (k * s_s) ** 2, 0.0))
            x = (k * y + std * ctx.randn_like(y)).to(y.dtype)
            yield Step(i + 1, x, y if gamma >= 1.0 else None)

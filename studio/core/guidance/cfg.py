"""Classifier-free guidance (Ho & Salimans 2022), with an optional guidance interval
(Kynkaanniemi et al. 2024) and the rescale of Lin et al. (2024).

    pred = uncond + scale (cond - uncond)

computed in the network's own parameterization (every parameterization is affine in (x0, eps) at
fixed (x, t), so the result is the same in any of them). The conditional and unconditional
predictions come from ONE network call on a doubled batch [x; x] with labels [y; -1]
(-1 = the null class). Scale 1, and any time outside the interval, call the conditional model
alone: exactly the unguided model, at the cost of one evaluation.

Rescale phi (Lin et al. 2024, sec. 3.4): the guided x0 is rescaled to the conditional x0's
per-sample standard deviation, x0 <- phi x0 std(x0_cond)/std(x0) + (1 - phi) x0, which counters the
over-exposure of large scales.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..errors import ParamError, StudioError
from ..parameterization import from_x0_eps, to_x0_eps
from ..params import param
from ..registry import GUIDANCE
from .base import Guidance


@GUIDANCE.register("cfg")
@dataclass
class CFG(Guidance):
    """Classifier-free guidance for class-conditional models (labels from run.labels)."""

    title = "Classifier-free guidance"
    scale: float = param(3.0, "guidance scale w: uncond + w (cond - uncond); 1 = no guidance",
                         min=0.0, max=100.0)
    t_lo: Optional[float] = param(None, "guide only at t >= t_lo (pipeline process time; "
                                  "null: no lower bound)")
    t_hi: Optional[float] = param(None, "guide only at t <= t_hi (null: no upper bound)")
    rescale: float = param(0.0, "rescale phi of Lin et al. 2024 (0 = off, 0.7 typical)",
                           min=0.0, max=1.0)

    def __post_init__(self):
        if self.t_lo is not None and self.t_hi is not None and self.t_lo > self.t_hi:
            raise ParamError(f"t_lo ({self.t_lo}) must not exceed t_hi ({self.t_hi})", "t_lo")

    def _inside(self, t: torch.Tensor) -> torch.Tensor:
        inside = torch.ones_like(t, dtype=torch.bool)
        if self.t_lo is not None:
            inside &= t >= self.t_lo
        if self.t_hi is not None:
            inside &= t <= self.t_hi
        return inside

    def bind(self, network, process) -> None:
        # text-conditioned networks (diffusers Stable Diffusion): no labels = the prompt, and
        # label -1 = the negative prompt
        self._prompt = bool(getattr(network, "prompt_conditioned", False))

    def guide(self, net, kind, x, t, coeffs, labels):
        if labels is None and getattr(self, "_prompt", False):
            labels = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        if labels is None:
            raise StudioError("classifier-free guidance needs class labels: set run.labels",
                              "guidance cfg")
        inside = self._inside(t)
        if self.scale == 1.0 or not bool(inside.any()):
            return kind, net(x, t, labels)
        b = x.shape[0]
        lab = labels.expand(b) if labels.ndim == 0 else labels
        t2 = torch.cat([t, t]) if t.ndim > 0 else t
        both = net(torch.cat([x, x]), t2, torch.cat([lab, torch.full_like(lab, -1)]))
        cond, uncond = both[:b], both[b:]
        guided = uncond + self.scale * (cond - uncond)
        if self.rescale > 0:
            x0_c, _ = to_x0_eps(kind, cond, x, coeffs)
            x0_g, eps_g = to_x0_eps(kind, guided, x, coeffs)
            dims = tuple(range(1, x.ndim))
            ratio = x0_c.std(dim=dims, keepdim=True) / x0_g.std(dim=dims, keepdim=True).clamp_min(1e-12)
            x0_r = self.rescale * x0_g * ratio + (1 - self.rescale) * x0_g
            # keep x fixed: recompute eps from the rescaled x0 and return in the network's kind
            eps_r = (x - coeffs.alpha * x0_r) / coeffs.sigma
            guided = from_x0_eps(kind, x0_r, eps_r, coeffs)
        if t.ndim > 0 and not bool(inside.all()):
            view = (b,) + (1,) * (x.ndim - 1)
            guided = torch.where(inside.reshape(view), guided, cond)
        return kind, guided

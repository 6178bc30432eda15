"""Restart sampling (Xu, Deng, Tian, Liu, Tegmark & Jaakkola 2023, "Restart Sampling for Improving
Generative Processes", Algorithm 1).

A deterministic ODE sampler (Heun's method on the PF-ODE) except inside one restart interval
[t_min_r, t_max_r]: on reaching t_min_r, the sample is pushed forward to t_max_r by the EXACT
forward transition of the process,

    x <- (alpha_hi / alpha_lo) x + alpha_hi sqrt(sigma_edm_hi^2 - sigma_edm_lo^2) z,

and the PF-ODE is solved back down to t_min_r with ``restart_steps`` Heun steps; this repeats
``restart_k`` times. The large added noise contracts the errors accumulated so far (the paper's
bound) while the ODE keeps the discretisation error small, combining the strengths of SDE and ODE
samplers. Noise levels are sigma_edm = sigma / alpha, so the interval means the same on every
process (paper, EDM models: [0.06, 0.30] for CIFAR-10, several restarts). The restart starts at the
first grid time whose sigma_edm is <= restart_tmin; the inner grid is Karras' (rho = 7) in sigma_edm.

Cost: 2 evaluations per main step plus 2 restart_k restart_steps, the final denoise included as usual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ParamError
from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step


def heun(ctx, x, t0, t1):
    """One Heun step of the PF-ODE in process time; returns (x at t1, the prediction at t0)."""
    h = t1 - t0
    pred = ctx(x, t0)
    d = pred.velocity
    d1 = ctx(x + h * d, t1).velocity
    return (x + 0.5 * h * (d + d1)).to(x.dtype), pred


def time_of_sigma_edm(p, sig: float, lo, hi):
    """The process time where sigma / alpha = ``sig``, clamped into [lo, hi]."""
    t = p.t_of_logsnr(torch.as_tensor(-2.0 * math.log(sig), dtype=torch.float64))
    return torch.clamp(t, float(lo), float(hi))


@SOLVERS.register("restart")
@dataclass
class Restart(Solver):
    """Restart sampling (Xu et al. 2023): Heun on the PF-ODE with restart_k forward jumps from
    restart_tmin to restart_tmax, each followed by restart_steps Heun steps back."""

    title = "Restart sampling (ODE + forward noise jumps)"
    order = 2
    stochastic = True
    evals_per_step = 2
    restart_tmin: float = param(0.06, "restart interval: lower noise level (sigma/alpha)", min=0.0)
    restart_tmax: float = param(0.30, "restart interval: upper noise level (sigma/alpha)", min=0.0)
    restart_k: int = param(2, "number of restarts K (0 = plain Heun)", min=0)
    restart_steps: int = param(4, "Heun steps from restart_tmax back to restart_tmin", min=1)

    def __post_init__(self):
        super().__post_init__()
        if not self.restart_tmin < self.restart_tmax:
            raise ParamError(f"restart_tmin ({self.restart_tmin}) must be below restart_tmax "
                             f"({self.restart_tmax})", "restart_tmin")

    def is_stochastic(self) -> bool:
        return self.restart_k > 0

    def nfe_for_steps(self, steps: int) -> int:
        final = 1 if self.denoise_final else 0
        return 2 * steps + 2 * self.restart_k * self.restart_steps + final

    def inner_grid(self, p, t_lo, t_hi) -> list:
        s_lo, s_hi = float(p.sigma_edm(t_lo)), float(p.sigma_edm(t_hi))
        r = 1.0 / 7.0
        n = self.restart_steps
        sig = [(s_hi ** r + i / n * (s_lo ** r - s_hi ** r)) ** 7.0 for i in range(n + 1)]
        ts = [t_hi] + [time_of_sigma_edm(p, s, t_lo, t_hi) for s in sig[1:-1]] + [t_lo]
        return ts

    def sample(self, ctx, x, ts):
        p = ctx.process
        n = len(ts) - 1
        sig = [float(p.sigma_edm(t)) for t in ts]
        j = next((i for i in range(1, n + 1) if sig[i] <= self.restart_tmin), n)
        for i in range(n):
            x, pred = heun(ctx, x, ts[i], ts[i + 1])
            if i + 1 == j:
                for _ in range(self.restart_k):
                    x = self.restart(ctx, x, ts[j], ts[0])
            yield Step(i + 1, x, pred.x0)

    def restart(self, ctx, x, t_lo, t_top):
        """One restart: the exact forward jump from t_lo to t_max_r, then Heun back to t_lo."""
        p = ctx.process
        s_lo = float(p.sigma_edm(t_lo))
        t_hi = time_of_sigma_edm(p, max(self.restart_tmax, s_lo), t_lo, t_top)
        s_hi = float(p.sigma_edm(t_hi))
        a_lo, a_hi = p.alpha(t_lo).to(x.dtype), p.alpha(t_hi).to(x.dtype)
        std = a_hi * math.sqrt(max(s_hi ** 2 - s_lo ** 2, 0.0))
        x = (a_hi / a_lo) * x + std * ctx.randn_like(x)
        grid = self.inner_grid(p, t_lo, t_hi)
        for k in range(len(grid) - 1):
            x, _ = heun(ctx, x, grid[k], grid[k + 1])
        return x

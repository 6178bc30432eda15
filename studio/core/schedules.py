"""Time schedules: where a solver places its steps, independently of the solver.

A schedule maps (process, number of steps n) to n + 1 times from ``t_max`` down to ``t_min``.
Grids defined on noise levels use the process-independent ``sigma_edm = sigma / alpha`` =
exp(-lambda / 2), so a schedule means the same thing on every process. A time ``shift`` s
(SD3/FLUX: u -> s u / (1 + (s - 1) u) on the normalised time u) applies to any schedule; the
process's own default shift (``rectified-flow``'s ``shift``) is multiplied in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from .errors import ParamError
from .params import param
from .processes.base import Process, as_time
from .registry import SCHEDULES


@dataclass
class Schedule:
    id: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def grid(self, process: Process, n: int) -> Tensor:
        """n + 1 decreasing times from t_max to t_min (before any shift)."""
        raise NotImplementedError

    def times(self, process: Process, n: int, shift: float = 1.0, *, model=None,
              solver=None) -> Tensor:
        """``model`` (a Denoiser) and ``solver`` are given by runs, for schedules that depend on
        them (``optimized``); the others ignore them."""
        if n < 1:
            raise ParamError(f"need at least one step, got {n}", "steps")
        t = as_time(self.grid(process, n))
        shift = shift * process.default_shift
        if shift != 1.0:
            # SD3/FLUX's shift u' = s u / (1 + (s - 1) u) on the position u in [t_min, t_max]:
            # exactly SD3's sigma shift on rectified flow when t_min = 0; endpoints stay put.
            span = process.t_max - process.t_min
            u = (t - process.t_min) / span
            t = process.t_min + span * shift * u / (1.0 + (shift - 1.0) * u)
        return t


#: sigma/alpha above this counts as infinite (alpha = 0 up to rounding)
SIGMA_EDM_INFINITE = 1e5


def _noise_grid(process: Process, n: int, make) -> Tensor:
    """Times of a grid defined on sigma_edm = sigma / alpha; ``make(lo, hi, m)`` returns m + 1
    decreasing noise levels from hi to lo.

    Where alpha vanishes at t_max (rectified flow, trig at t = 1) sigma_edm is infinite there: the
    first step then goes from t_max to the second point of the uniform-in-t grid, and the other
    n - 1 steps follow the schedule from there."""
    tt = as_time([process.t_min, process.t_max])
    lam = process.logsnr(tt)
    lo, hi = math.exp(-0.5 * float(lam[0])), math.exp(-0.5 * float(lam[1]))
    top = None
    if not math.isfinite(hi) or hi > SIGMA_EDM_INFINITE:
        if n < 2:
            return as_time([process.t_max, process.t_min])
        top = process.t_max - (process.t_max - process.t_min) / n
        hi = math.exp(-0.5 * float(process.logsnr(as_time(top))))
        n -= 1
    sig = make(lo, hi, n)
    t = process.t_of_logsnr(-2.0 * torch.log(sig))
    t[0] = process.t_max if top is None else top
    t[-1] = process.t_min
    t = torch.clamp(t, process.t_min, process.t_max)
    if top is not None:
        t = torch.cat([as_time([process.t_max]), t])
    return t


@SCHEDULES.register("uniform")
@dataclass
class Uniform(Schedule):
    """Uniform in t."""

    title = "Uniform in time"

    def grid(self, process, n):
        return torch.linspace(process.t_max, process.t_min, n + 1, dtype=torch.float64)


@SCHEDULES.register("logsnr")
@dataclass
class LogSNR(Schedule):
    """Uniform in log-SNR lambda (DPM-Solver's 'logSNR' spacing)."""

    title = "Uniform in log-SNR"

    def grid(self, process, n):
        return _noise_grid(process, n, lambda lo, hi, m: torch.exp(torch.linspace(
            math.log(hi), math.log(lo), m + 1, dtype=torch.float64)))


@SCHEDULES.register("karras")
@dataclass
class Karras(Schedule):
    """sigma_edm^(1/rho) uniform (Karras et al. 2022, eq. 5)."""

    title = "Karras (EDM) schedule"
    rho: float = param(7.0, "exponent rho of the Karras schedule", min=0.1)

    def grid(self, process, n):
        def make(lo, hi, m):
            ramp = torch.linspace(0, 1, m + 1, dtype=torch.float64)
            inv = 1.0 / self.rho
            return (hi ** inv + ramp * (lo ** inv - hi ** inv)) ** self.rho
        return _noise_grid(process, n, make)


@SCHEDULES.register("exponential")
@dataclass
class Exponential(Schedule):
    """log sigma_edm spaced as ramp^power (k-diffusion's polyexponential; power 1 = exponential)."""

    title = "Exponential (log-sigma) schedule"
    power: float = param(1.0, "ramp exponent; 1 spaces log sigma uniformly", min=0.1)

    def grid(self, process, n):
        def make(lo, hi, m):
            ramp = torch.linspace(1, 0, m + 1, dtype=torch.float64) ** self.power
            return torch.exp(math.log(lo) + ramp * (math.log(hi) - math.log(lo)))
        return _noise_grid(process, n, make)


@SCHEDULES.register("quadratic")
@dataclass
class Quadratic(Schedule):
    """t quadratic in the step index: dense near the data (DDIM's 'quad')."""

    title = "Quadratic in time"

    def grid(self, process, n):
        ramp = torch.linspace(1, 0, n + 1, dtype=torch.float64)
        return process.t_min + (process.t_max - process.t_min) * ramp ** 2


@SCHEDULES.register("custom")
@dataclass
class Custom(Schedule):
    """Explicit times (or, for discrete processes, integer timesteps); ``steps`` is their count - 1."""

    title = "Explicit times"
    timepoints: Optional[list[float]] = param(None, "decreasing times, first = start, last = end")
    timesteps: Optional[list[float]] = param(None, "decreasing discrete timesteps (ddpm-discrete)")

    def grid(self, process, n):
        if (self.timepoints is None) == (self.timesteps is None):
            raise ParamError("give timepoints or timesteps", "schedule")
        if self.timesteps is not None:
            t = _discrete(process).timestep_to_t(torch.as_tensor(self.timesteps, dtype=torch.float64))
        else:
            t = torch.as_tensor(self.timepoints, dtype=torch.float64)
        if len(t) != n + 1:
            raise ParamError(f"{len(t)} times given for {n} steps (need steps + 1)", "schedule")
        if not bool(torch.all(t[1:] < t[:-1])):
            raise ParamError("times must decrease", "schedule")
        return t

    def times(self, process, n, shift=1.0, *, model=None, solver=None):
        return as_time(self.grid(process, n))  # explicit times are used as given


def _discrete(process: Process):
    if not hasattr(process, "timestep_to_t"):
        raise ParamError(f"this schedule needs a discrete process (ddpm-discrete), not {process.id!r}",
                         "schedule")
    return process


@dataclass
class _Spacing(Schedule):
    steps_offset: int = param(0, "offset added to 'leading' timesteps (Stable Diffusion uses 1)",
                              min=0)

    def grid(self, process, n):
        proc = _discrete(process)
        T, m = proc.num_train_timesteps, n + 1
        if self.id == "linspace":
            k = np.linspace(0, T - 1, m).round()[::-1]
        elif self.id == "leading":
            k = (np.arange(0, m) * (T // m)).round()[::-1] + self.steps_offset
        else:  # trailing
            k = np.round(np.arange(T, 0, -T / m)) - 1
        k = np.clip(k.astype(np.float64), 0, T - 1)
        if len(np.unique(k)) != m:
            raise ParamError(f"{n} steps are too many for {T} discrete timesteps", "steps")
        return proc.timestep_to_t(torch.as_tensor(k.copy()))


@SCHEDULES.register("linspace")
@dataclass
class Linspace(_Spacing):
    """ddpm-discrete: steps + 1 timesteps round(linspace(0, N - 1)) (diffusers 'linspace')."""

    title = "Discrete 'linspace' spacing"


@SCHEDULES.register("leading")
@dataclass
class Leading(_Spacing):
    """ddpm-discrete: timesteps k * (N // m) + offset (diffusers 'leading', DDIM)."""

    title = "Discrete 'leading' spacing"


@SCHEDULES.register("trailing")
@dataclass
class Trailing(_Spacing):
    """ddpm-discrete: timesteps round(N - k N / m) - 1 (diffusers 'trailing'; reaches t_max)."""

    title = "Discrete 'trailing' spacing"


from . import schedule_opt as _schedule_opt  # noqa: E402,F401  (registers "optimized")
from . import schedule_ld3 as _schedule_ld3  # noqa: E402,F401  (registers "ld3")

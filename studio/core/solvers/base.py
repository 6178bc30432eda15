"""The solver interface.

A solver is a dataclass registered under a stable id; its fields are its parameters. Sampling is a
generator (a resumable state machine): ``sample(ctx, x, ts)`` takes the prior sample ``x`` at
``ts[0]`` and yields one :class:`Step` per step, ``x`` then lying at ``ts[i]``. The runner pulls the
steps one at a time, so a caller can pause, record, cancel between steps, or stop early.

Every solver has the same budget parameters: ``steps`` or ``nfe`` (network evaluations, the final
denoising included), the time ``schedule`` (with that schedule's own parameters), a time ``shift``
and ``denoise_final``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterator, Optional

import torch
from torch import Tensor

from ..errors import ParamError
from ..model import Denoiser, Prediction
from ..params import param
from ..registry import SCHEDULES


@dataclass
class Step:
    """What a solver reports after step ``i`` (x now at ``ts[i]``)."""

    i: int
    x: Tensor
    #: the x0-prediction this step used (None if it used none)
    x0: Optional[Tensor] = None
    #: on the last step: an evaluation at (x, ts[-1]) the final denoise may reuse
    final: Optional[Prediction] = None
    #: adaptive solvers report the time they reached
    t: Optional[float] = None
    #: adaptive solvers' running estimate of their total number of steps (for progress)
    total: Optional[int] = None


@dataclass
class SolveContext:
    """What a solver may use besides x and the time grid."""

    model: Denoiser
    #: standard-normal noise shaped like its argument, from the run's seeded generator
    randn_like: Callable[[Tensor], Tensor]

    @property
    def process(self):
        return self.model.process

    def __call__(self, x: Tensor, t) -> Prediction:
        return self.model(x, t)


#: the declared range of ``steps`` (and, times ten, of ``nfe``): beyond it a run is refused up front
MAX_STEPS = 1_000_000


def steps_for_budget(cost: Callable[[int], int], nfe: int) -> int:
    """The largest n >= 0 with ``cost(n) <= nfe`` for a non-decreasing cost, in closed form.

    Every solver's cost is affine in the steps, ``cost(n) = a n + b``, so n = (nfe - b) // a,
    verified at n and n + 1; a cost that is not affine falls back to a bisection (O(log nfe)
    evaluations), so even a budget of 10**18 takes microseconds."""
    b = cost(0)
    a = cost(1) - b
    if a > 0:
        n = max(0, (nfe - b) // a)
        if cost(n) <= nfe < cost(n + 1) or (n == 0 and cost(1) > nfe):
            return n
    lo, hi = 0, 1
    while cost(hi) <= nfe:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(mid) <= nfe else (lo, mid)
    return lo


def _schedule_ids():
    return SCHEDULES.ids()


@dataclass
class Solver:
    """Base class of every solver."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: theoretical order of convergence (of the ODE it discretises; strong order for SDEs)
    order: ClassVar[int] = 1
    stochastic: ClassVar[bool] = False
    #: network evaluations per step (used to turn an nfe budget into steps)
    evals_per_step: ClassVar[int] = 1
    #: the last step ends with an evaluation at the final point, reused by the final denoise
    reuses_final_eval: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False

    steps: Optional[int] = param(None, "number of steps (give steps or nfe; default 20 steps)", min=1,
                                 max=MAX_STEPS)
    nfe: Optional[int] = param(None, "budget of network evaluations, the final denoising included",
                               min=1, max=MAX_STEPS * 10)
    schedule: str = param("karras", "time schedule", choices=_schedule_ids)
    shift: float = param(1.0, "time shift: sigma/alpha multiplied by this (SD3/FLUX)", min=1e-6)
    denoise_final: bool = param(True, "return the x0-prediction at the last time point")
    schedule_params: dict = field(default_factory=dict, repr=False, metadata={"internal": True})

    def __post_init__(self) -> None:
        if self.steps is not None and self.nfe is not None:
            raise ParamError("give steps or nfe, not both", "steps")

    # -- budget ---------------------------------------------------------------------------------
    def nfe_for_steps(self, steps: int) -> int:
        """Network evaluations used by ``steps`` steps, the final denoise included."""
        final = 1 if self.denoise_final and not self.reuses_final_eval else 0
        return self.evals_per_step * steps + final

    def num_steps(self) -> int:
        if self.steps is not None:
            return self.steps
        if self.nfe is None:
            return 20
        n = steps_for_budget(self.nfe_for_steps, self.nfe)
        if n < 1:
            raise ParamError(f"an nfe budget of {self.nfe} is too small for {self.id} "
                             f"(one step costs {self.nfe_for_steps(1)})", "nfe")
        return n

    def make_schedule(self):
        return SCHEDULES.get(self.schedule, "schedule")(**self.schedule_params)

    def times(self, process, model=None) -> Tensor:
        """The time grid; ``model`` (a Denoiser) is needed by schedules fitted to it."""
        try:
            return self.make_schedule().times(process, self.num_steps(), self.shift, model=model,
                                              solver=self)
        except (OverflowError, ZeroDivisionError) as exc:
            raise ParamError(f"the {self.schedule} time grid cannot be computed for this process "
                             f"({exc}); its noise levels are out of range", "schedule") from None

    def times_for(self, model) -> Tensor:
        """The grid of a run on ``model`` (what the runner calls); subclasses that override
        ``times(process)`` without ``model`` keep working."""
        if "model" in inspect.signature(self.times).parameters:
            return self.times(model.process, model=model)
        return self.times(model.process)

    def is_stochastic(self) -> bool:
        """Whether this instance draws noise (a solver may depend on its params, e.g. DDIM's eta)."""
        return self.stochastic

    # -- sampling -------------------------------------------------------------------------------
    def sample(self, ctx: SolveContext, x: Tensor, ts: Tensor) -> Iterator[Step]:
        raise NotImplementedError

    @classmethod
    def info(cls) -> dict:
        return {"id": cls.id, "title": cls.title, "order": cls.order, "stochastic": cls.stochastic,
                "adaptive": cls.adaptive, "evals_per_step": cls.evals_per_step}


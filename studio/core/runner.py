"""The one runner that drives every solver, for the CLI and the app alike.

:class:`SamplingRun` pulls a solver's steps one at a time and yields a typed :class:`StepEvent`
per step (index, t, x_t, x0-prediction, NFE so far). Between steps it checks a
:class:`CancelToken` and that x_t is finite (a NaN or Inf names the step and t). After the last
step it applies the final denoise and stores a :class:`RunResult`.
"""
from __future__ import annotations

import math
import threading
import warnings
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Optional

import torch
from torch import Tensor

from .errors import Cancelled, NonFiniteError, StudioWarning
from .model import Denoiser
from .solvers.base import SolveContext, Solver


class CancelToken:
    """Thread-safe cancellation flag, checked by the runner between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class StepEvent:
    """One solver step. ``index`` 0 is the prior sample; ``index == steps`` the last step."""

    branch: str
    index: int
    steps: int
    t: float
    x: Tensor
    x0: Optional[Tensor]
    nfe: int
    #: seconds since the run started
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.index / max(self.steps, 1)


@dataclass
class RunResult:
    """What a finished run returns (tensors on the CPU). ``samples`` are in the data's own units
    (``Network.to_data_units``); ``trajectory`` and ``x0`` stay in the network's space."""

    samples: Tensor
    nfe: int
    t: Tensor
    trajectory: Optional[Tensor] = None
    x0: Optional[Tensor] = None
    step_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: latent-space networks (diffusers VAE families): the final latents; samples are decoded
    latents: Optional[Tensor] = None


def branch_generator(seed: int, branch: str) -> torch.Generator:
    """The CPU generator of a branch's stochastic noise: a function of (seed, branch) alone."""
    g = torch.Generator()
    g.manual_seed((int(seed) * 1_000_003 + zlib.crc32(branch.encode())) % (2 ** 63))
    return g


def _finite_or_raise(x: Tensor, branch: str, index: int, t: float, note: str = "") -> None:
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteError(f"{bad} non-finite values (NaN/Inf) in x at step {index} (t={t:.6g})"
                             + note, branch or "run", step=index, t=t)


def _reference(model: Denoiser, samples: Tensor) -> Tensor | None:
    """Exact samples of an analytic network's own distribution (unguided runs only), to judge
    whether a run's samples collapsed; None where the network cannot sample itself."""
    sample = getattr(model.network, "sample", None)
    if sample is None or model.guidance is not None or model.labels is not None \
            or samples.shape[0] < 8:
        return None
    try:
        return sample(256, generator=torch.Generator().manual_seed(0))
    except Exception:  # noqa: BLE001 - the check is advisory
        return None


def warn_degenerate(samples: Tensor, ts: Tensor, dtype: torch.dtype, branch: str = "",
                    reference: Tensor | None = None) -> None:
    """Warn (:class:`StudioWarning`) when accepted settings made the run degenerate: a time grid
    whose points coincide in the run's precision, samples that collapsed to one point, or (given
    ``reference`` samples of the true distribution) a spread below a quarter of the true one."""
    where = branch or "run"
    grid = ts.detach().to("cpu", dtype)
    repeated = int((torch.diff(grid) == 0).sum()) if grid.numel() > 1 else 0
    if repeated:
        warnings.warn(f"{where}: {repeated} of {grid.numel() - 1} steps of the time grid vanish in "
                      f"{str(dtype).replace('torch.', '')} (times too close together); the "
                      "schedule's range or shift loses precision", StudioWarning, stacklevel=3)
    if samples.ndim >= 1 and samples.shape[0] >= 2:
        flat = samples.detach().reshape(samples.shape[0], -1).to("cpu", torch.float64)
        spread = float(flat.std(0).max())
        size = float(flat.abs().max())
        if spread <= 1e-4 * max(size, 1e-300):
            warnings.warn(f"{where}: all {samples.shape[0]} samples collapsed to one point "
                          f"(spread {spread:.3g}); the process or schedule settings are degenerate",
                          StudioWarning, stacklevel=3)
            return
        if reference is not None and reference.shape[1:] == samples.shape[1:]:
            ref = reference.reshape(reference.shape[0], -1).to(torch.float64)
            ratio = math.sqrt(float(flat.var(0).sum()) / max(float(ref.var(0).sum()), 1e-300))
            if ratio < 0.25:
                warnings.warn(f"{where}: the samples' spread is {100 * ratio:.2g}% of the "
                              "distribution's own: they collapsed towards its mean (check the "
                              "noise range, the shift and the number of steps)", StudioWarning,
                              stacklevel=3)


class SamplingRun:
    """Iterate a solver over a denoiser from ``x_T`` at the solver's times.

    Iterating yields :class:`StepEvent` objects; once exhausted, :attr:`result` holds the
    :class:`RunResult`. Noise for stochastic solvers comes from a CPU generator seeded by
    (seed, branch), so the same seed gives the same samples on any device.
    """

    def __init__(self, model: Denoiser, solver: Solver, x_T: Tensor, *, seed: int = 0,
                 branch: str = "", cancel: CancelToken | None = None, record: bool = False,
                 ts: Tensor | None = None):
        self.model, self.solver, self.x_T = model, solver, x_T
        self.branch, self.cancel, self.record = branch, cancel, record
        self.ts = solver.times_for(model) if ts is None else ts
        self.generator = branch_generator(seed, branch)
        self.result: RunResult | None = None
        #: warn (StudioWarning) when the run turns out degenerate; comparisons switch it off
        self.check_degenerate = True

    def _randn_like(self, x: Tensor) -> Tensor:
        z = torch.randn(x.shape, generator=self.generator, dtype=torch.float64)
        return z.to(device=x.device, dtype=x.dtype)

    def __iter__(self) -> Iterator[StepEvent]:
        model, ts = self.model, self.ts
        model.nfe = 0
        steps = len(ts) - 1
        ctx = SolveContext(model=model, randn_like=self._randn_like)
        start = time.perf_counter()
        last = start
        times = [float(ts[0])]
        x = self.x_T
        if model.guidance is not None:      # a kind may start elsewhere (ir-sde: about mu)
            x = model.guidance.start_state(ctx, x, ts)
        traj = [x.detach().cpu()] if self.record else None
        x0s: list[Tensor] = []
        step_seconds: list[float] = []
        final_pred = None
        yield StepEvent(self.branch, 0, steps, float(ts[0]), x, None, 0, 0.0)
        with torch.no_grad():
            drive = getattr(model.guidance, "drive", None)
            steps_iter = (drive(self.solver, ctx, x, ts) if drive is not None
                          else self.solver.sample(ctx, x, ts))
            for step in steps_iter:
                if self.cancel is not None and self.cancel.cancelled:
                    raise Cancelled(f"{self.branch or 'run'} cancelled at step {step.i}")
                x = step.x
                t = float(step.t) if step.t is not None else float(ts[step.i])
                _finite_or_raise(x, self.branch, step.i, t)
                now = time.perf_counter()
                step_seconds.append(now - last)
                last = now
                times.append(t)
                if self.record:
                    traj.append(x.detach().cpu())
                    if step.x0 is not None:
                        x0s.append(step.x0.detach().cpu())
                final_pred = step.final
                # adaptive solvers report a running estimate of their step count (Step.total)
                n_steps = steps if not self.solver.adaptive else max(step.i, step.total or steps)
                yield StepEvent(self.branch, step.i, n_steps, t, x, step.x0, model.nfe, now - start)
            if self.cancel is not None and self.cancel.cancelled:
                raise Cancelled(f"{self.branch or 'run'} cancelled")
            out = x
            if self.solver.denoise_final:
                pred = final_pred if final_pred is not None else model(x, times[-1])
                out = pred.x0
                _finite_or_raise(out, self.branch, len(times) - 1, times[-1])
        samples = model.network.to_data_units(out.detach())
        _finite_or_raise(samples, self.branch, len(times) - 1, times[-1], " after the conversion "
                         "to data units (check the model's normalisation shift and scale)")
        if self.check_degenerate:
            warn_degenerate(samples, ts, out.dtype, self.branch, _reference(model, samples))
        self.result = RunResult(
            samples=samples.cpu(), nfe=model.nfe,
            t=torch.tensor(times, dtype=torch.float64),
            trajectory=torch.stack(traj) if traj is not None else None,
            x0=torch.stack(x0s) if self.record and x0s else None,
            step_seconds=step_seconds, seconds=time.perf_counter() - start,
            latents=out.detach().cpu() if getattr(model.network, "latent", False) else None)

    def run(self) -> RunResult:
        for _ in self:
            pass
        assert self.result is not None
        return self.result

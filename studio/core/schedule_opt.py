"""Optimised time schedules (in the spirit of Sabour, Fidler & Kreis 2024, "Align Your Steps:
Optimizing Sampling Schedules in Diffusion Models").

For a given model (network + process + guidance), deterministic solver and number of steps n, the
n - 1 interior time points are chosen to minimise the discrepancy between the solver's output and
a fine reference solve of the probability-flow ODE from the same prior samples:

    J(t_1 .. t_{n-1}) = RMS over particles and components of (solve(x_T; t_0 .. t_n) - ref(x_T)).

Align Your Steps bounds the KL divergence of the SDE path; here the target is the quantity a
deterministic sampler is judged by, the error of its endpoint, measured directly. The points are
parametrised by their log-SNR, monotone by construction: p_k in (0, 1) is the position of lambda_k
between the noisy end (lambda(t_max), held above -2 log SIGMA_EDM_INFINITE where alpha vanishes)
and the clean end (lambda(t_min)). The search starts from the best of the Karras family
(rho = 1.5 .. 20, and log-SNR-uniform, its rho -> infinity limit) or from a given schedule; a
compass search then moves one point at a time by a fraction of the gap to its neighbour, halving
the fraction when a sweep brings no significant improvement. The objective is not convex: points
may merge (a step of nearly zero length gives a multistep method a cheap derivative estimate),
and the search finds a good local optimum, not the global one. It needs no
gradients (any network, any solver that runs on a given grid) and costs one n-step solve of
``particles`` samples per evaluation. The reference is the engine's Dormand-Prince integrator at a
tight tolerance. Results are cached per (model, solver, n, settings).

``method="gradient"`` (the default) fits the same objective by gradient descent through the
solve instead: the n gaps between the positions are a softmax of n free logits z (monotone and
inside the range by construction), and J(z) is differentiated by torch autograd through the
solver's steps and the network (:mod:`studio.core.difffit`); L-BFGS with a strong-Wolfe line
search then needs some tens of solves (each with one backward pass) where the compass search
needs hundreds; with ``starts`` > 1 it runs from that many of the best grids of the initial
family (the objective has several local minima) and keeps the best. Before trusting the gradient the fit compares it with a central finite
difference along a random direction; a solver whose step converts the times to plain numbers
(its gradient then missing or incomplete) is fitted by the compass search, as is every solver
with ``method="compass"``.
"""
from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from .difffit import FIT_SEED_OFFSET, gradient_is_exact, lbfgs, rmse, solve, stratified_particles
from .errors import NonFiniteError, ParamError
from .params import param, to_params
from .processes.base import as_time
from .registry import SCHEDULES
from .schedules import SIGMA_EDM_INFINITE, Schedule

__all__ = ["optimize_schedule", "OptimizedSchedule", "ScheduleFit", "clear_cache"]

_CACHE: "OrderedDict[str, ScheduleFit]" = OrderedDict()
_CACHE_SIZE = 64
_SEED_OFFSET = FIT_SEED_OFFSET
#: the Karras rho values init="auto" starts from (with log-SNR-uniform)
AUTO_RHOS = (1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 14.0, 20.0)


@dataclass
class ScheduleFit:
    """The result of :func:`optimize_schedule`."""

    #: n + 1 decreasing float64 times
    times: Tensor
    #: RMSE to the reference with the initial times (Karras rho = 7 for init="auto") and the
    #: optimised ones, on the optimisation's particles
    initial_error: float
    error: float
    #: objective evaluations (each one n-step solve)
    evaluations: int
    #: the optimisation's particles' reference endpoints were solved with this many evaluations
    reference_nfe: int
    #: "gradient" (L-BFGS through the solve) or "compass" (also the fallback)
    method: str = "compass"
    #: backward passes (gradient fits) and the fit's wall time in seconds (reference included)
    gradients: int = 0
    seconds: float = 0.0


def clear_cache() -> None:
    _CACHE.clear()


def _fingerprint(model, solver, n: int, settings: dict) -> str:
    def plugin(obj):
        if obj is None:
            return None
        return [type(obj).__module__ + "." + type(obj).__qualname__, repr(to_params(obj))]
    params = {k: v for k, v in to_params(solver).items() if k not in ("steps", "nfe")}
    labels = None
    if model.labels is not None:
        labels = model.labels.detach().cpu().tolist()
    return json.dumps([plugin(model.network), plugin(model.process), plugin(model.guidance),
                       labels, solver.id, repr(params), n, repr(sorted(settings.items()))])


def _reference(model, x_T: Tensor, t0: float, t1: float, denoise_final: bool,
               rtol: float) -> tuple[Tensor, int]:
    """The probability-flow ODE from t0 to t1 solved to ``rtol`` (+ the final x0-prediction)."""
    from .odeint import dopri5
    start = model.nfe
    with torch.no_grad():
        sol = dopri5(lambda t, x: model(x, t).velocity, x_T, t0, t1, rtol=rtol, atol=rtol)
        out = sol.y
        if denoise_final:
            out = model(out, t1).x0
    return out, model.nfe - start


def optimize_schedule(model, solver, n_steps: int, x_T: Optional[Tensor] = None, *,
                      init: str = "auto", particles: int = 512, seed: int = 0,
                      evaluations: int = 400, rtol: float = 1e-7,
                      reference: Optional[Tensor] = None, method: str = "gradient",
                      starts: int = 1, weights: Optional[Tensor] = None, pool: int = 1,
                      progress: Optional[Callable[[int, float], None]] = None) -> ScheduleFit:
    """Interior times minimising ``solver``'s endpoint RMSE to the PF-ODE for ``model``.

    ``model`` is a :class:`studio.core.model.Denoiser`; ``solver`` a deterministic, non-adaptive
    :class:`Solver` (its ``denoise_final`` is honoured; its schedule and step count are not used:
    the grid has ``n_steps`` steps). ``x_T`` are the prior samples to fit on (default:
    ``particles`` draws from the process's prior, from a generator seeded with ``seed`` plus a fixed
offset, so that they differ from the noise of a run with the same seed). ``init`` names the schedule to
    start from; ``evaluations`` caps the number of n-step solves; the reference endpoints are
    solved with Dormand-Prince at ``rtol`` unless given (``reference``, matching ``x_T``).
    ``method`` is "gradient" (L-BFGS through the solve from the ``starts`` best starting grids,
    compass search where the solver's gradient is not exact) or "compass". ``weights`` (one per
    particle of a given ``x_T``) weight the particles' mean square errors (a stratified draw);
    with ``pool`` > 1 and no ``x_T``, the particles are such a draw from ``pool`` x ``particles``
    prior samples, the hardest by how far the solver's endpoint on the Karras grid moves from
    ``n_steps`` to 4 ``n_steps`` (:func:`studio.core.difffit.stratified_particles`).
    """
    from .runner import SamplingRun

    where = "schedule"
    if n_steps < 1:
        raise ParamError(f"need at least one step, got {n_steps}", "steps")
    if solver.adaptive:
        raise ParamError(f"{solver.id} chooses its own steps; an optimised schedule needs a "
                         "fixed-grid solver", where)
    if solver.is_stochastic():
        raise ParamError(f"the optimised schedule minimises the error to the probability-flow ODE "
                         f"and needs a deterministic solver; {solver.id} draws noise", where)
    if init != "auto" and (init in ("optimized", "custom") or init not in SCHEDULES):
        raise ParamError(f"init must be 'auto' or a built-in schedule id, got {init!r}",
                         f"{where}.init")
    if method not in ("gradient", "compass"):
        raise ParamError(f"method must be 'gradient' or 'compass', got {method!r}",
                         f"{where}.method")
    started = time.perf_counter()
    proc = model.process
    den = model
    if x_T is None:
        # a stream of its own, so the fit never sees the noise of a run with the same seed
        x_T, den, weights = stratified_particles(model, particles, seed, pool,
                                                 _probe(solver, n_steps))

    t_max, t_min = float(proc.t_max), float(proc.t_min)
    if n_steps == 1:
        return ScheduleFit(as_time([t_max, t_min]), math.nan, math.nan, 0, 0)

    if reference is None:
        tol = rtol if x_T.dtype == torch.float64 else max(rtol, 1e-5)
        reference, ref_nfe = _reference(den, x_T, t_max, t_min, solver.denoise_final, tol)
    else:
        ref_nfe = 0
    reference = reference.to(torch.float64)

    lam_lo = max(float(proc.logsnr(as_time(t_max))), -2.0 * math.log(SIGMA_EDM_INFINITE))
    lam_hi = float(proc.logsnr(as_time(t_min)))
    if not (math.isfinite(lam_hi) and lam_hi > lam_lo):
        raise ParamError(f"the process's log-SNR range [{lam_lo:g}, {lam_hi:g}] cannot be "
                         "searched (is t_min a point with zero noise?)", where)
    span = lam_hi - lam_lo

    def times_of(p: list[float]) -> Tensor:
        lam = torch.tensor([lam_lo + span * v for v in p], dtype=torch.float64)
        inner = torch.clamp(proc.t_of_logsnr(lam), t_min, t_max)
        return torch.cat([as_time([t_max]), inner, as_time([t_min])])

    used = 0

    def cost(p: list[float]) -> float:
        nonlocal used
        used += 1
        ts = times_of(p)
        if not bool(torch.all(ts[1:] < ts[:-1])):
            return math.inf
        try:
            out = SamplingRun(den, solver, x_T, ts=ts).run().samples
        except NonFiniteError:
            return math.inf
        return float(rmse(out, reference, weights))

    def positions(schedule) -> list[float]:
        lam = proc.logsnr(schedule.times(proc, n_steps)[1:-1])
        eps = 1e-6
        p = sorted(min(max((float(v) - lam_lo) / span, eps), 1 - eps) for v in lam)
        for k in range(1, len(p)):  # strictly increasing
            p[k] = max(p[k], p[k - 1] + eps)
        return p

    # 0) the starting grid: the given schedule, or the best of the Karras family
    #    (rho from 1.5 to 20; log-SNR-uniform is its rho -> infinity limit)
    if init == "auto":
        karras = SCHEDULES.get("karras")
        grids = [positions(karras(rho=r)) for r in AUTO_RHOS]
        grids.append(positions(SCHEDULES.get("logsnr")()))
    else:
        grids = [positions(SCHEDULES.get(init, f"{where}.init")())]
    scored = [(cost(q), q) for q in grids]
    first = scored[0][0] if init != "auto" else scored[AUTO_RHOS.index(7.0)][0]
    best, p = min(scored, key=lambda c: c[0])
    if method == "gradient" and math.isfinite(best) and used < evaluations:
        ranked = [q for c, q in sorted(scored, key=lambda c: c[0]) if math.isfinite(c)]
        got = _gradient_fit(den, solver, x_T, reference, ranked[:max(starts, 1)], lam_lo, span,
                            t_min, t_max, evaluations - used, progress, weights)
        if got is not None:
            q, value, spent, grads = got
            best, p = (value, q) if value < best else (best, p)
            return ScheduleFit(times_of(p), first, best, used + spent, ref_nfe, "gradient",
                               grads, time.perf_counter() - started)
    # 1) compass search: +-frac of the gap to the neighbour, frac halved after a barren sweep
    frac = 0.25
    while used < evaluations and frac > 1e-3:
        improved = False
        for k in range(len(p)):
            for direction in (1, -1):
                if used >= evaluations:
                    break
                lo = p[k - 1] if k > 0 else 0.0
                hi = p[k + 1] if k + 1 < len(p) else 1.0
                gap = (hi - p[k]) if direction > 0 else (p[k] - lo)
                trial = list(p)
                trial[k] = p[k] + direction * frac * gap
                c = cost(trial)
                if c < best:
                    # a gain below 1e-4 relative does not keep the step size up
                    improved = improved or c < best * (1.0 - 1e-4)
                    p, best = trial, c
                    break
        if progress is not None:
            progress(used, best)
        if not improved:
            frac *= 0.5
    return ScheduleFit(times_of(p), first, best, used, ref_nfe, "compass", 0,
                       time.perf_counter() - started)


def _probe(solver, n: int):
    """A particle's difficulty: how far ``solver``'s endpoint on the Karras grid moves from n to
    4n steps."""
    from .runner import SamplingRun

    def probe(x, den):
        a, b = (SamplingRun(den, solver, x, ts=SCHEDULES.get("karras")().times(den.process, k))
                .run().samples.to(torch.float64) for k in (n, 4 * n))
        return (a - b).pow(2).reshape(len(x), -1).sum(1)
    return probe


def _gradient_fit(den, solver, x_T, reference, starts, lam_lo, span, t_min, t_max, budget,
                  progress, weights=None):
    """L-BFGS on the gap logits from each of the positions ``starts`` (best first) while the
    budget lasts; None where the solver's gradient in its times is not exact. Returns the best
    (positions, objective, solves, backward passes)."""
    proc = den.process
    ends = (as_time([t_max]), as_time([t_min]))

    def logits(p0):
        gaps = torch.diff(torch.tensor([0.0] + list(p0) + [1.0], dtype=torch.float64))
        return torch.log(torch.clamp(gaps, min=1e-12))

    def positions(z):
        return torch.cumsum(torch.softmax(z, 0), 0)[:-1]

    def objective(z):
        lam = lam_lo + span * positions(z)
        inner = torch.clamp(proc.t_of_logsnr(lam), t_min, t_max)
        ts = torch.cat([ends[0], inner, ends[1]])
        return rmse(solve(den, solver, x_T, ts), reference, weights)

    if not gradient_is_exact(objective, logits(starts[0]), precise=x_T.dtype == torch.float64):
        return None
    spent, grads, best = 3, 1, None
    for p0 in starts:
        if spent >= budget:
            break
        m = lbfgs(objective, logits(p0), max_evaluations=budget - spent, callback=progress)
        spent, grads = spent + m.evaluations, grads + m.gradients
        if best is None or m.value < best.value:
            best = m
    return positions(best.z).tolist(), best.value, spent, grads


@SCHEDULES.register("optimized")
@dataclass
class OptimizedSchedule(Schedule):
    """Times minimising the chosen solver's endpoint error for the model at this step count
    (Align-Your-Steps-like; see :func:`optimize_schedule`). Needs the model: runs compute it on
    first use and cache it. The time shift does not apply."""

    title = "Optimised for the model and solver"
    init: str = param("auto", "schedule the search starts from ('auto': the best Karras rho)",
                      choices=("auto", "karras", "logsnr", "uniform", "exponential", "quadratic"))
    particles: int = param(512, "prior samples the error is measured on", min=1)
    evaluations: int = param(400, "most solves the search may spend", min=1)
    opt_seed: int = param(0, "seed of the prior samples the search uses", min=0)
    method: str = param("gradient", "gradient: L-BFGS through the solve (compass search where the "
                        "solver has no exact gradient); compass: derivative-free search",
                        choices=("gradient", "compass"))
    starts: int = param(1, "gradient fits: L-BFGS runs from this many of the best starting "
                        "grids (more: slower, less often stuck in a poor local minimum)", min=1)
    pool: int = param(1, "stratified draw: fit on the hardest quarter of pool x particles prior "
                      "samples plus a weighted uniform sample of the rest (1: a plain draw)",
                      min=1)

    def times(self, process, n, shift=1.0, *, model=None, solver=None):
        if n < 1:
            raise ParamError(f"need at least one step, got {n}", "steps")
        if model is None or solver is None:
            raise ParamError("the 'optimized' schedule needs the model and the solver "
                             "(Solver.times(process, model=...))", "schedule")
        if model.process is not process:
            from .model import Denoiser
            model = Denoiser(model.network, process, model.guidance, model.labels)
        settings = {"init": self.init, "particles": self.particles,
                    "evaluations": self.evaluations, "seed": self.opt_seed,
                    "method": self.method, "starts": self.starts}
        if self.pool > 1:  # (keeps the keys of plain-draw fits as they were)
            settings["pool"] = self.pool
        key = _fingerprint(model, solver, n, settings)
        if key in _CACHE:
            _CACHE.move_to_end(key)
            solver.fit_info = _CACHE[key]
            return _CACHE[key].times.clone()
        fit = optimize_schedule(model, solver, n, init=self.init, particles=self.particles,
                                seed=self.opt_seed, evaluations=self.evaluations,
                                method=self.method, starts=self.starts, pool=self.pool)
        _CACHE[key] = fit
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        solver.fit_info = fit  # what the run's fit cost and reached (tables show it)
        return fit.times.clone()

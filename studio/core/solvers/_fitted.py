"""Solvers whose time points and coefficients are fitted to the model (not a solver itself).

A :class:`FittedSolver` is a deterministic solver written with explicit coefficients c (a flat
float64 vector, :meth:`FittedSolver.run_with`), which default to those of a classical base solver
on the grid (:meth:`FittedSolver.base_coefficients`). Its fit (:func:`fit_solver`) minimises the
same objective as the ``optimized`` schedule, the endpoint RMSE to a Dormand-Prince solve of the
probability-flow ODE from ``fit_particles`` prior samples of the fit's own stream (never a run's
noise), over the grid (its n gap logits, :class:`studio.core.difffit.TimeMap`) and the
coefficients c = base(t) + scale(t) * delta, by L-BFGS through the differentiable solve. The fit
starts from the base solver (delta = 0) on a grid chosen by ``fit_init``: by default the base
solver's ``optimized`` grid, fitted first on the same particles and reference with at most half
the solves, so the joint fit starts at the best fixed solver and can only improve on it (started
from a generic grid, the joint fit stalled above that point). A skipped fit (``fit`` off, or more
than ``fit_max_steps`` steps) IS the base solver on its schedule. A fit is cached per (model, solver, steps,
settings); its time points and coefficients are plain numbers that a pipeline saves (``custom``
schedule ``timepoints`` + the solver's ``coefficients``, see :func:`studio.core.difffit.frozen`),
and a solver given ``coefficients`` uses them as they are and never fits.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar, Optional

import torch
from torch import Tensor

from .. import difffit
from ..errors import ParamError
from ..params import param
from ..processes.base import as_time
from .base import Solver

_CACHE: "OrderedDict[str, SolverFit]" = OrderedDict()
_CACHE_SIZE = 64
#: early stopping: points of the fit's path judged on the second draw, and that draw's seed offset
HOLDOUT_CHECKPOINTS = 6
HOLDOUT_SEED = 1_000_003


@dataclass
class SolverFit:
    """A fit's result (lists of Python floats, as saved in a pipeline) and its cost."""

    times: list
    coefficients: list
    #: endpoint RMSE on the fit's particles: the base solver on its schedule, and the fitted one
    initial_error: float
    error: float
    #: forward solves and backward passes spent, wall time in seconds (reference included)
    evaluations: int
    gradients: int
    seconds: float
    reference_nfe: int


def clear_cache() -> None:
    _CACHE.clear()


@dataclass
class FittedSolver(Solver):
    """Base class of the fitted solvers; subclasses define the coefficients and the steps."""

    fitted: ClassVar[bool] = True
    #: the paper the method comes from (shown in tables)
    paper: ClassVar[str] = ""
    #: (solver id, params) of the base solver an unfitted instance equals
    base: ClassVar[tuple] = ("", {})

    fit: bool = param(True, "fit the time points and coefficients to the model on first use "
                      "(off: the base solver)")
    fit_particles: int = param(512, "prior samples of the fit (a stream of its own)", min=1)
    fit_iterations: int = param(200, "most solves the fit may spend", min=1)
    fit_seed: int = param(0, "seed of the fit's prior samples", min=0)
    fit_pool: int = param(16, "stratified draw: the fit's particles are the hardest quarter of "
                          "fit_pool x fit_particles prior samples plus a weighted uniform sample "
                          "of the rest (1: a plain draw)", min=1)
    fit_holdout: bool = param(True, "early stopping: of the fit's start and the points where it "
                              "improved, keep the best on a second draw of the fit's stream")
    fit_max_steps: int = param(16, "more steps than this are not fitted (the base solver runs)",
                               min=1)
    fit_init: str = param("optimized", "grid the fit starts from: the solver's schedule; auto = "
                          "the best Karras rho (or log-SNR) grid for the base solver; optimized ="
                          " the base solver's gradient-fitted grid on the fit's own particles",
                          choices=("schedule", "auto", "optimized"))
    coefficients: Optional[list[float]] = param(
        None, "fitted coefficients (saved with the pipeline; given, the solver does not fit)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fit_info: Optional[SolverFit] = None

    # -- what a subclass defines ------------------------------------------------------------------
    def n_coefficients(self, n: int) -> int:
        raise NotImplementedError

    def base_coefficients(self, process, ts: Tensor) -> Tensor:
        """The base solver's coefficients on ``ts`` (float64, differentiable in ``ts``)."""
        raise NotImplementedError

    def base_params(self) -> tuple:
        """(solver id, params) of the base solver this instance equals unfitted."""
        return self.base[0], {**self.base[1], "denoise_final": self.denoise_final}

    def coefficient_scale(self, process, ts: Tensor) -> Tensor:
        """The size of a unit change of each coefficient during the fit."""
        return torch.ones(self.n_coefficients(len(ts) - 1), dtype=torch.float64)

    def run_with(self, ctx, x: Tensor, ts: Tensor, c: Tensor):
        """The steps (a generator of :class:`Step`) with coefficients ``c``."""
        raise NotImplementedError

    def warm_start(self) -> Optional[dict]:
        """Params that make this solver a simpler one whose fit (on the same particles) is the
        start of this one's, or None: the fit starts from ``fit_init``'s grid and the base
        coefficients."""
        return None

    def lift(self, coefficients: Tensor, n: int) -> Tensor:
        """The :meth:`warm_start` solver's coefficients as this solver's (same behaviour)."""
        raise NotImplementedError

    # -- the solver interface ---------------------------------------------------------------------
    def _fits(self, n: int) -> bool:
        return self.coefficients is None and self.fit and 1 < n <= self.fit_max_steps

    def times(self, process, model=None) -> Tensor:
        n = self.num_steps()
        if not self._fits(n):
            return super().times(process, model=model)
        if model is None:
            raise ParamError(f"{self.id} fits its time points to the model: give the model "
                             "(Solver.times(process, model=...))", "solver")
        if model.process is not process:
            from ..model import Denoiser
            model = Denoiser(model.network, process, model.guidance, model.labels)
        self.fit_info = fit_solver(self, model, n)
        return as_time(self.fit_info.times)

    def sample(self, ctx, x, ts):
        n = len(ts) - 1
        if self.coefficients is not None:
            c = torch.tensor(self.coefficients, dtype=torch.float64)
            if len(c) != self.n_coefficients(n):
                raise ParamError(f"{len(c)} coefficients given; {self.id} with {n} steps needs "
                                 f"{self.n_coefficients(n)}", "coefficients")
        elif (self.fit_info is not None and self._fits(n)
              and torch.equal(as_time(self.fit_info.times), as_time(ts).cpu())):
            c = torch.tensor(self.fit_info.coefficients, dtype=torch.float64)
        else:
            c = self.base_coefficients(ctx.process, ts)
        yield from self.run_with(ctx, x, ts, c)


def fit_solver(solver: FittedSolver, model, n: int) -> SolverFit:
    """Fit (or fetch from the cache) ``solver``'s grid and coefficients at ``n`` steps."""
    from ..schedule_opt import _fingerprint, _reference
    settings = {"particles": solver.fit_particles, "iterations": solver.fit_iterations,
                "seed": solver.fit_seed, "init": solver.fit_init, "pool": solver.fit_pool,
                "holdout": solver.fit_holdout}
    key = _fingerprint(model, solver, n, settings)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    started = time.perf_counter()
    proc = model.process

    def draw(seed):
        x, d, w = difffit.stratified_particles(model, solver.fit_particles, seed,
                                               solver.fit_pool, _probe(solver, n))
        tol = 1e-7 if x.dtype == torch.float64 else 1e-5
        ref, nfe = _reference(d, x, float(proc.t_max), float(proc.t_min), solver.denoise_final,
                              tol)
        return x, d, w, ref.to(torch.float64), nfe

    x_T, den, weights, reference, ref_nfe = draw(solver.fit_seed)
    tmap = difffit.TimeMap(proc)

    def base_error(ts):
        run = SimpleNamespace(id=solver.id, denoise_final=solver.denoise_final,
                              sample=lambda ctx, x, t: solver.run_with(
                                  ctx, x, t, solver.base_coefficients(proc, t)))
        with torch.no_grad():
            return float(difffit.rmse(difffit.solve(den, run, x_T, ts), reference, weights))

    ts0 = Solver.times(solver, proc, model=den)
    first = initial = base_error(ts0)
    spent, c0, warm_spent = 1, None, 0
    warm = solver.warm_start()
    if warm is not None:  # start from the simpler solver's fit on the same particles
        simple = dataclasses.replace(solver, **warm)
        got = fit_solver(simple, model, n)
        ts0 = as_time(got.times)
        c0 = solver.lift(torch.tensor(got.coefficients, dtype=torch.float64), n)
        first, warm_spent = got.error, got.evaluations
    elif solver.fit_init == "auto":
        from ..registry import SCHEDULES
        from ..schedule_opt import AUTO_RHOS
        grids = [SCHEDULES.get("karras")(rho=r).times(proc, n) for r in AUTO_RHOS]
        grids.append(SCHEDULES.get("logsnr")().times(proc, n))
        for g in grids:
            e = base_error(g)
            spent += 1
            if e < first:
                ts0, first = g, e
    elif solver.fit_init == "optimized":
        ts0, first, used = _optimized_start(solver, den, n, x_T, reference, weights, ts0, first)
        spent += used
    z0 = tmap.z_of(ts0)

    def coeffs(theta):
        ts = tmap.ts_of(theta[:n])
        return ts, (solver.base_coefficients(proc, ts)
                    + solver.coefficient_scale(proc, ts) * theta[n:])

    def objective(theta, x=x_T, d=den, ref=reference, w=weights):
        ts, c = coeffs(theta)
        run = SimpleNamespace(id=solver.id, denoise_final=solver.denoise_final,
                              sample=lambda ctx, x, t: solver.run_with(ctx, x, t, c))
        return difffit.rmse(difffit.solve(d, run, x, ts), ref, w)

    path = []  # (value, theta) where the fit improved

    def tracked(theta):
        v = objective(theta)
        fv = float(v.detach())
        if math.isfinite(fv) and (not path or fv < path[-1][0]):
            path.append((fv, theta.detach().clone()))
        return v

    delta0 = torch.zeros(solver.n_coefficients(n), dtype=torch.float64)
    if c0 is not None:
        delta0 = (c0 - solver.base_coefficients(proc, ts0)) / solver.coefficient_scale(proc, ts0)
    theta0 = torch.cat([z0, delta0])
    reserve = HOLDOUT_CHECKPOINTS + 1 if solver.fit_holdout else 0
    m = difffit.lbfgs(tracked, theta0,
                      max_evaluations=max(solver.fit_iterations - spent - reserve, 1))
    spent += warm_spent
    spent += m.evaluations
    best, value = m.z, m.value
    if solver.fit_holdout and path and path[-1][0] < first:
        # early stopping: the start and a few of the improving points, judged on a second draw
        picks = sorted({round(k) for k in torch.logspace(0, math.log10(len(path)),
                                                         HOLDOUT_CHECKPOINTS - 1).tolist()})
        cands = [(first, theta0)] + [path[k - 1] for k in picks if k <= len(path)]
        hx, hd, hw, href, _ = draw(solver.fit_seed + HOLDOUT_SEED)
        with torch.no_grad():
            held = [float(objective(t, hx, hd, href, hw)) for _, t in cands]
        spent += len(cands)
        k = min(range(len(cands)), key=lambda i: held[i] if math.isfinite(held[i]) else math.inf)
        value, best = cands[k]
    with torch.no_grad():
        ts, c = coeffs(best)
    fit = SolverFit(ts.tolist(), c.tolist(), initial, min(value, first), spent,
                    m.gradients, time.perf_counter() - started, ref_nfe)
    if not value < first:  # the fit found nothing better: the solver at its start
        fit.times = ts0.tolist()
        fit.coefficients = (c0 if c0 is not None else solver.base_coefficients(proc, ts0)).tolist()
    _CACHE[key] = fit
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return fit


def _base(solver, n: int, steps: int):
    from ..pipeline import build_solver
    base_id, base_params = solver.base_params()
    return build_solver(base_id, {**base_params, "steps": steps}, "solver.base")


def _probe(solver, n: int):
    """A particle's difficulty: how far the base solver's endpoint moves from n to 4n steps."""
    from ..runner import SamplingRun

    def probe(x, den):
        a, b = (SamplingRun(den, _base(solver, n, k), x).run().samples for k in (n, 4 * n))
        return (a.to(torch.float64) - b.to(torch.float64)).pow(2).reshape(len(x), -1).sum(1)
    return probe


def _optimized_start(solver, den, n, x_T, reference, weights, ts0, first):
    """The base solver's ``optimized`` grid fitted on the same particles and reference (half the
    fit's solves at most), when it beats ``ts0``: (grid, its error, solves spent)."""
    from ..schedule_opt import optimize_schedule
    got = optimize_schedule(den, _base(solver, n, n), n, x_T=x_T, reference=reference,
                            evaluations=max(solver.fit_iterations // 2, 1), weights=weights)
    ts = got.times.to(torch.float64)
    if got.error < first:
        return ts, got.error, got.evaluations
    return ts0, first, got.evaluations


#: features of the per-sample predictor, and the size of a unit change of a head weight in a fit
FEATURES = 3
HEAD_SCALE = 0.1


def features(eps, x0, prev):
    """Per sample [B, 3] (float64): log rms(eps), log(1 + rms(x0 - x0_prev)) and
    cos(eps, eps_prev); on a step with no earlier evaluation (prev None) the last two are 0, 1."""
    flat = lambda v: v.reshape(len(eps), -1).to(torch.float64)  # noqa: E731 - no half overflow
    e = flat(eps)
    rms = lambda v: v.pow(2).mean(1).sqrt()  # noqa: E731
    phi1 = torch.log(rms(e).clamp_min(1e-12))
    if prev is None:
        return torch.stack([phi1, torch.zeros_like(phi1), torch.ones_like(phi1)], 1)
    pe = flat(prev[0])
    phi2 = torch.log1p(rms(flat(x0) - flat(prev[1])))
    phi3 = (e * pe).sum(1) / (e.norm(dim=1) * pe.norm(dim=1)).clamp_min(1e-12)
    return torch.stack([phi1, phi2, phi3], 1)


def column(v, x):
    """A per-sample vector shaped to broadcast over x's sample dimensions, in x's dtype."""
    return v.to(x.dtype).reshape((len(x),) + (1,) * (x.dim() - 1))


class PerSampleHeads:
    """The per-sample predictor of a fitted solver with a ``predictor`` flag: two linear heads a
    step on :func:`features`, their 2 x FEATURES coefficients a step after the solver's constant
    ones. Zero heads are the constant solver, whose fit is the start of the heads' fit."""

    def n_heads(self, n: int) -> int:
        return 2 * FEATURES * n if self.predictor else 0

    def warm_start(self):
        return {"predictor": False} if self.predictor else None

    def lift(self, coefficients, n):
        return torch.cat([coefficients, torch.zeros(self.n_heads(n), dtype=torch.float64)])

    def heads(self, c, first: int, i: int, eps, x0, prev):
        """Step i's two head outputs [B] (float64), the heads' coefficients starting at c[first]."""
        phi = features(eps, x0, prev)
        k = first + 2 * FEATURES * i
        return phi @ c[k:k + FEATURES], phi @ c[k + FEATURES:k + 2 * FEATURES]

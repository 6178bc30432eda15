"""Fitting through a differentiable solve: the pieces shared by the gradient-fitted schedule
(:mod:`studio.core.schedule_opt`) and the learned solvers (:mod:`studio.core.solvers.learned`).

A deterministic solver's endpoint x_0 = S(x_T; t_0 .. t_n, c) is a composition of network
evaluations and linear combinations, so with torch autograd enabled it is differentiable in its
time points t and in any coefficients c it is given. :func:`solve` runs a solver exactly as
:class:`studio.core.runner.SamplingRun` does (its steps, guidance's drive, the final denoise) but
with gradients on; :func:`gradient_is_exact` checks an autograd directional derivative against a
central finite difference, so a solver that converts a time to a Python float part of the way
(its gradient then incomplete) is detected and fitted without gradients instead;
:func:`lbfgs` minimises a scalar objective with L-BFGS and a strong-Wolfe line search, counting
the solves it spends.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

__all__ = ["solve", "rmse", "gradient_is_exact", "lbfgs", "Minimum", "fit_particles",
           "stratified_particles"]

#: offset of the fits' own prior-sample streams: a fit never sees the noise of a run (which draws
#: from torch.Generator().manual_seed(seed) or from the runner's branch generator)
FIT_SEED_OFFSET = 0x5EED_0F_0A75


def fit_particles(model, particles: int, seed: int):
    """(x_T, denoiser) for a fit: ``particles`` prior draws from a stream of their own (seeded by
    ``seed`` + :data:`FIT_SEED_OFFSET`), labels cycled to that batch."""
    from .model import Denoiser
    net, proc = model.network, model.process
    g = torch.Generator().manual_seed(FIT_SEED_OFFSET + int(seed))
    x_T = torch.randn((particles,) + tuple(net.data_shape), generator=g, dtype=torch.float64)
    x_T = (x_T * proc.prior_std).to(net.default_dtype)
    labels = model.labels
    if labels is not None and labels.ndim > 0 and len(labels) != particles:
        labels = labels[torch.arange(particles) % len(labels)]
    return x_T, Denoiser(net, proc, model.guidance, labels)


def solve(den, solver, x_T: Tensor, ts: Tensor) -> Tensor:
    """The solver's output from ``x_T`` on the grid ``ts`` (final denoise included), with autograd
    on: differentiable in ``ts`` and in whatever the solver's coefficients depend on."""
    from .solvers.base import SolveContext

    def no_noise(x):
        raise RuntimeError(f"{solver.id} draws noise; a fit needs a deterministic solver")

    ctx = SolveContext(model=den, randn_like=no_noise)
    x, final = x_T, None
    if den.guidance is not None:
        x = den.guidance.start_state(ctx, x, ts)
    with torch.enable_grad():
        drive = getattr(den.guidance, "drive", None)
        steps = drive(solver, ctx, x, ts) if drive is not None else solver.sample(ctx, x, ts)
        for step in steps:
            x, final = step.x, step.final
        if solver.denoise_final:
            x = (final if final is not None else den(x, ts[-1])).x0
    return x


def rmse(out: Tensor, reference: Tensor, weights: Optional[Tensor] = None) -> Tensor:
    """RMSE over particles and components; with ``weights`` (one per particle) the weighted mean
    square over the particles, the estimate a stratified draw (:func:`stratified_particles`)
    gives of the RMSE over the prior."""
    sq = (out.to(torch.float64) - reference).pow(2)
    if weights is None:
        return sq.mean().sqrt()
    per = sq.reshape(len(sq), -1).mean(1)
    return ((weights * per).sum() / weights.sum()).sqrt()


def stratified_particles(model, particles: int, seed: int, pool: int, probe):
    """(x_T, denoiser, weights): ``particles`` of a pool of ``pool`` x ``particles`` prior draws
    of the fit's stream, chosen to estimate the endpoint mean square error over the prior with
    far less variance than a plain draw of that size.

    A few trajectories (those that choose between modes late) carry most of the error: in 32-D
    mixtures 1 % of the particles carry 90 % of the square error, so a plain draw of a few hundred
    holds a handful of them, and a fit to it is a fit to those (its error on other noise is
    several times its own). ``probe(x)`` scores each pool particle's difficulty (here: how far
    the base solver's endpoint moves from n to 4n steps); the hardest quarter is taken whole
    (weight 1) and the rest drawn uniformly from the remainder, each weighted by the share of the
    remainder it stands for (a stratified, unbiased estimate of the pool's mean)."""
    x_all, den = fit_particles(model, particles * pool, seed)
    if pool <= 1:
        return x_all, den, None
    with torch.no_grad():
        score = probe(x_all, den).to(torch.float64)
    score = torch.nan_to_num(score, nan=math.inf)
    order = torch.argsort(score, descending=True)
    hard = max(particles // 4, 1)
    g = torch.Generator().manual_seed(FIT_SEED_OFFSET + 1 + int(seed))
    rest = order[hard:][torch.randperm(len(order) - hard, generator=g)[:particles - hard]]
    keep = torch.cat([order[:hard], rest])
    weights = torch.ones(len(keep), dtype=torch.float64)
    if len(rest):
        weights[hard:] = (len(order) - hard) / len(rest)
    labels = den.labels
    if labels is not None and labels.ndim > 0:
        from .model import Denoiser
        den = Denoiser(den.network, den.process, den.guidance, labels[keep])
    return x_all[keep], den, weights


def gradient_is_exact(f: Callable[[Tensor], Tensor], z: Tensor, *, seed: int = 0,
                      precise: bool = True) -> bool:
    """Whether autograd's derivative of ``f`` at ``z`` along a random direction agrees with a
    central finite difference (step 1e-4, to 1e-3 relative; with ``precise`` off, for a solve in
    float32, step 1e-2 to 1e-2 relative); False where no gradient flows at all."""
    eps, tol = (1e-4, 1e-3) if precise else (1e-2, 1e-2)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(z.shape, generator=g, dtype=z.dtype)
    v = v / v.norm()
    zz = z.detach().clone().requires_grad_(True)
    try:
        with warnings.catch_warnings():  # a solver turning a time into a float: what we test
            warnings.simplefilter("ignore", UserWarning)
            val = f(zz)
        if not val.requires_grad or not math.isfinite(float(val.detach())):
            return False
        (grad,) = torch.autograd.grad(val, zz, allow_unused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    if grad is None:
        return False
    auto, val = float(grad @ v), float(val.detach())
    with torch.no_grad():
        fd = (float(f(z + eps * v)) - float(f(z - eps * v))) / (2 * eps)
    scale = max(abs(fd), abs(auto))
    return abs(auto - fd) <= tol * scale + 1e-9 * abs(val)


@dataclass
class Minimum:
    z: Tensor
    value: float
    #: objective evaluations (forward solves) and gradients (backward passes) spent
    evaluations: int
    gradients: int


def lbfgs(f: Callable[[Tensor], Tensor], z0: Tensor, *, max_evaluations: int = 60,
          tol: float = 1e-7, callback: Optional[Callable[[int, float], None]] = None) -> Minimum:
    """Minimise ``f`` from ``z0`` with L-BFGS (strong-Wolfe line search); the best point seen is
    returned (a non-finite value, or the budget spent, stops the search there)."""
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=max_evaluations, max_eval=max_evaluations,
                            tolerance_grad=1e-10, tolerance_change=tol, history_size=20,
                            line_search_fn="strong_wolfe")
    best = [math.inf, z0.detach().clone()]
    count = [0, 0]

    def closure():
        if count[0] >= max_evaluations:  # the line search may ask for more than max_eval
            raise FloatingPointError
        opt.zero_grad()
        val = f(z)
        count[0] += 1
        v = float(val.detach())
        if not math.isfinite(v):
            raise FloatingPointError
        val.backward()
        count[1] += 1
        if v < best[0]:
            best[0], best[1] = v, z.detach().clone()
        if callback is not None:
            callback(count[0], best[0])
        return val

    try:
        opt.step(closure)
    except FloatingPointError:
        pass
    return Minimum(best[1], best[0], count[0], count[1])


class TimeMap:
    """Grids t_max = t_0 > t_1 > .. > t_n = t_min as n free logits z: the gaps between the
    interior points' log-SNR positions are softmax(z) of the range (monotone by construction).
    The noisy end of the range is held above -2 log SIGMA_EDM_INFINITE, where alpha vanishes."""

    def __init__(self, process):
        from .errors import ParamError
        from .processes.base import as_time
        from .schedules import SIGMA_EDM_INFINITE
        self.process = process
        self.t_max, self.t_min = float(process.t_max), float(process.t_min)
        self.lam_lo = max(float(process.logsnr(as_time(self.t_max))),
                          -2.0 * math.log(SIGMA_EDM_INFINITE))
        self.lam_hi = float(process.logsnr(as_time(self.t_min)))
        if not (math.isfinite(self.lam_hi) and self.lam_hi > self.lam_lo):
            raise ParamError(f"the process's log-SNR range [{self.lam_lo:g}, {self.lam_hi:g}] "
                             "cannot be searched (is t_min a point with zero noise?)", "schedule")
        self.span = self.lam_hi - self.lam_lo
        self._ends = (as_time([self.t_max]), as_time([self.t_min]))

    def z_of(self, ts: Tensor) -> Tensor:
        lam = self.process.logsnr(ts[1:-1].detach().to(torch.float64))
        p = torch.clamp((lam - self.lam_lo) / self.span, 0.0, 1.0)
        gaps = torch.diff(torch.cat([p.new_zeros(1), p, p.new_ones(1)]))
        return torch.log(torch.clamp(gaps, min=1e-9))

    def ts_of(self, z: Tensor) -> Tensor:
        pos = torch.cumsum(torch.softmax(z, 0), 0)[:-1]
        inner = torch.clamp(self.process.t_of_logsnr(self.lam_lo + self.span * pos),
                            self.t_min, self.t_max)
        return torch.cat([self._ends[0], inner, self._ends[1]])


#: schedules whose times are fitted to the model
FITTED_SCHEDULES = ("optimized", "ld3")


def is_fitted(solver) -> bool:
    """Whether a run of ``solver`` fits anything to the model (its grid or its coefficients)."""
    own = getattr(solver, "fitted", False) and solver._fits(solver.num_steps())
    return bool(own) or solver.schedule in FITTED_SCHEDULES


def frozen(solver, model) -> dict:
    """``solver``'s parameters with what is fitted to ``model`` written out (fitting now if it is
    not cached): the grid as the ``custom`` schedule's ``timepoints`` and, for a fitted solver, its
    ``coefficients``. A solver built from them runs the same numbers without fitting."""
    from .params import to_params
    params = {k: v for k, v in to_params(solver).items() if k != "schedule_params"}
    if not is_fitted(solver):
        params.update(solver.schedule_params)
        return params
    ts = solver.times_for(model)
    params.update({"schedule": "custom", "timepoints": [float(v) for v in ts]})
    info = getattr(solver, "fit_info", None)
    if getattr(solver, "fitted", False) and info is not None:
        params["coefficients"] = list(info.coefficients)
    return params


def freeze_pipeline(built) -> tuple[dict, dict]:
    """(the pipeline's JSON dict with every fitted solver frozen by :func:`frozen`, the fit
    seconds per solver node: 0 for a fit found in the cache)."""
    import time as _time
    data = built.pipeline.to_dict()
    seconds = {}
    for b in built.branches:
        solver = built.solvers[b.solver]
        if not is_fitted(solver):
            continue
        start = _time.perf_counter()
        data["nodes"][b.solver]["params"] = frozen(solver, built.denoiser(b))
        seconds[b.solver] = _time.perf_counter() - start
    return data, seconds

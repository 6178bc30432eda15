"""LD3 time schedules (Tong, Hoang, Liu, Van den Broeck, Niepert 2024, "Learning to Discretize
Denoising Diffusion ODEs", ICLR 2025).

LD3 learns the n - 1 interior time points of a given solver with a teacher-student objective:
the student (the solver on the learned grid) should reach the teacher's endpoint (a fine solve)
Psi(x_T). Matching every x_T exactly asks more than a few time points can give, so LD3's soft
surrogate lets the student start anywhere in a small ball around x_T:

    min over t, x'_i   sum_i || S(x'_i; t) - Psi(x_i) ||^2    with ||x'_i - x_i|| <= r_i,

the x'_i learned jointly with the times (``slack`` r: the ball's radius as a fraction of the
prior's expected norm, prior_std sqrt(D)). Here the teacher is the engine's Dormand-Prince solve,
the distance the Euclidean one (the paper uses LPIPS on images), the grid is parametrised as in
:mod:`studio.core.difffit` (log-SNR gaps, softmax), the start is the best of the Karras family
for the solver, and the optimiser is L-BFGS on (times, x') through the differentiable solve. The
fit reports its error at the learned times from the particles themselves (x' = x_T, the error a
run has). It needs a solver whose gradient in its times is exact (checked; others are refused).
Fits are cached per (model, solver, n, settings).
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from . import difffit
from .errors import ParamError
from .params import param
from .processes.base import as_time
from .registry import SCHEDULES
from .schedule_opt import AUTO_RHOS, ScheduleFit, _fingerprint, _reference
from .schedules import Schedule

_CACHE: "OrderedDict[str, ScheduleFit]" = OrderedDict()
_CACHE_SIZE = 64


def clear_cache() -> None:
    _CACHE.clear()


def fit_ld3(model, solver, n: int, *, particles: int = 256, seed: int = 0,
            evaluations: int = 150, slack: float = 0.05, rtol: float = 1e-7) -> ScheduleFit:
    """LD3's grid for ``solver`` (deterministic, fixed-grid, differentiable in its times) with
    ``n`` steps on ``model``'s prior samples of the fit's own stream."""
    where = "schedule"
    if solver.adaptive or solver.is_stochastic():
        raise ParamError(f"LD3 learns the grid of a deterministic fixed-grid solver, not "
                         f"{solver.id}", where)
    started = time.perf_counter()
    proc = model.process
    x_T, den = difffit.fit_particles(model, particles, seed)
    t_max, t_min = float(proc.t_max), float(proc.t_min)
    if n == 1:
        return ScheduleFit(as_time([t_max, t_min]), math.nan, math.nan, 0, 0, "ld3")
    tol = rtol if x_T.dtype == torch.float64 else max(rtol, 1e-5)
    ref, ref_nfe = _reference(den, x_T, t_max, t_min, solver.denoise_final, tol)
    ref = ref.to(torch.float64)
    tmap = difffit.TimeMap(proc)

    def error(ts, x=x_T):
        return difffit.rmse(difffit.solve(den, solver, x, ts), ref)

    grids = [SCHEDULES.get("karras")(rho=r).times(proc, n) for r in AUTO_RHOS]
    grids.append(SCHEDULES.get("logsnr")().times(proc, n))
    with torch.no_grad():
        errs = [float(error(g)) for g in grids]
    first = errs[AUTO_RHOS.index(7.0)]
    k = min(range(len(errs)), key=lambda i: errs[i] if math.isfinite(errs[i]) else math.inf)
    z0 = tmap.z_of(grids[k])
    if not difffit.gradient_is_exact(lambda z: error(tmap.ts_of(z)), z0,
                                     precise=x_T.dtype == torch.float64):
        raise ParamError(f"LD3 differentiates the solve in its times, and {solver.id}'s "
                         "gradient is not exact (it computes its coefficients from plain "
                         "numbers); use the 'optimized' schedule", where)
    radius = slack * float(proc.prior_std) * math.sqrt(x_T[0].numel())
    nz = len(z0)

    def surrogate(theta):
        delta = theta[nz:].reshape(x_T.shape)
        norm = delta.flatten(1).norm(dim=1).clamp(min=1e-300).reshape((-1,) + (1,) * (x_T.ndim - 1))
        inside = delta * torch.clamp(radius / norm, max=1.0)  # projected into the ball
        return error(tmap.ts_of(theta[:nz]), (x_T + inside).to(x_T.dtype))

    theta0 = torch.cat([z0, torch.zeros(x_T.numel(), dtype=torch.float64)])
    spent = len(grids) + 3
    m = difffit.lbfgs(surrogate, theta0, max_evaluations=max(evaluations - spent - 1, 1))
    with torch.no_grad():
        ts = tmap.ts_of(m.z[:nz])
        err = float(error(ts))
    if not err < errs[k]:  # the soft objective's optimum is worse on x_T itself: keep the start
        ts, err = grids[k], errs[k]
    return ScheduleFit(ts.detach().clone(), first, err, spent + m.evaluations + 1, ref_nfe, "ld3",
                       m.gradients + 1, time.perf_counter() - started)


@SCHEDULES.register("ld3")
@dataclass
class LD3Schedule(Schedule):
    """Times learned for the model and solver by LD3's teacher-student objective with its soft
    ball constraint (Tong et al. 2024; see :func:`fit_ld3`). Needs the model: runs fit on first
    use and cache the fit. The time shift does not apply."""

    title = "LD3: learned for the model and solver"
    particles: int = param(256, "prior samples the grid is learned on", min=1)
    evaluations: int = param(150, "most solves the fit may spend", min=1)
    opt_seed: int = param(0, "seed of the fit's prior samples", min=0)
    slack: float = param(0.05, "radius of the ball the student may start in, as a fraction of "
                         "prior_std sqrt(D) (LD3's r; 0 = hard teacher matching)", min=0.0)

    def times(self, process, n, shift=1.0, *, model=None, solver=None):
        if n < 1:
            raise ParamError(f"need at least one step, got {n}", "steps")
        if model is None or solver is None:
            raise ParamError("the 'ld3' schedule needs the model and the solver "
                             "(Solver.times(process, model=...))", "schedule")
        if model.process is not process:
            from .model import Denoiser
            model = Denoiser(model.network, process, model.guidance, model.labels)
        settings = {"ld3": True, "particles": self.particles, "evaluations": self.evaluations,
                    "seed": self.opt_seed, "slack": self.slack}
        key = _fingerprint(model, solver, n, settings)
        if key not in _CACHE:
            _CACHE[key] = fit_ld3(model, solver, n, particles=self.particles, seed=self.opt_seed,
                                  evaluations=self.evaluations, slack=self.slack)
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        solver.fit_info = _CACHE[key]
        return _CACHE[key].times.clone()

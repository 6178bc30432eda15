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

__all__ = ["solve", "rmse", "gradient_is_exact", "lbfgs", "Minimum", "fit_particles"]

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
    with torch.enable_grad():
        drive = getattr(den.guidance, "drive", None)
        steps = drive(solver, ctx, x, ts) if drive is not None else solver.sample(ctx, x, ts)
        for step in steps:
            x, final = step.x, step.final
        if solver.denoise_final:
            x = (final if final is not None else den(x, ts[-1])).x0
    return x


def rmse(out: Tensor, reference: Tensor) -> Tensor:
    return (out.to(torch.float64) - reference).pow(2).mean().sqrt()


def gradient_is_exact(f: Callable[[Tensor], Tensor], z: Tensor, *, seed: int = 0,
                      tol: float = 1e-3) -> bool:
    """Whether autograd's derivative of ``f`` at ``z`` along a random direction agrees with a
    central finite difference (to ``tol`` relative); False where no gradient flows at all."""
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
        eps = 1e-4
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
    returned (a non-finite value stops the search there)."""
    z = z0.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=max_evaluations, max_eval=max_evaluations,
                            tolerance_grad=1e-10, tolerance_change=tol, history_size=20,
                            line_search_fn="strong_wolfe")
    best = [math.inf, z0.detach().clone()]
    count = [0, 0]

    def closure():
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

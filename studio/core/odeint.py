"""An adaptive Dormand-Prince 5(4) integrator for ODEs on batched tensors.

This is not a sampling solver (those live in ``studio/core/solvers`` and run on a fixed time grid
through the runner); it is the reference integrator the engine uses where it needs an ODE solved
to a tolerance: the exact probability-flow endpoint of a comparison, and the augmented
(state, log-density) ODE of the likelihood.

Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae", with the step-size control
and starting-step heuristic of Hairer, Norsett & Wanner, "Solving ODEs I", II.4. The error norm is
the RMS over each sample's components of ``err / (atol + rtol max(|y_n|, |y_n+1|))``, maximised
over the batch (dimension 0), so every sample meets the tolerance, not just the average.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from .errors import Cancelled, NonFiniteError, StudioError

# Butcher tableau of DOPRI5 (FSAL: the 7th stage is f at the new point).
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_E = tuple(b5 - b4 for b5, b4 in zip(_B5, _B4))


@dataclass
class OdeSolution:
    """The state at ``t1`` and what it cost."""

    y: Tensor
    #: right-hand-side evaluations
    nfe: int
    #: accepted and rejected steps
    steps: int
    rejected: int
    #: times of the accepted steps (t0 first)
    ts: list[float]


def _norm(err: Tensor, y0: Tensor, y1: Tensor, rtol: float, atol: float) -> float:
    scale = atol + rtol * torch.maximum(y0.abs(), y1.abs())
    r = (err / scale).reshape(err.shape[0], -1) if err.ndim > 1 else (err / scale).reshape(1, -1)
    return float(r.pow(2).mean(1).sqrt().max())


def dopri5(f: Callable[[float, Tensor], Tensor], y0: Tensor, t0: float, t1: float, *,
           rtol: float = 1e-6, atol: float = 1e-6, h0: Optional[float] = None,
           max_steps: int = 100_000, cancel=None,
           on_step: Optional[Callable[[float, Tensor], None]] = None) -> OdeSolution:
    """Integrate ``dy/dt = f(t, y)`` from ``t0`` to ``t1`` (either direction) to a tolerance.

    ``y0`` is a tensor whose first dimension is the batch. ``cancel`` (a
    :class:`studio.core.runner.CancelToken`) is checked between steps; ``on_step(t, y)`` is called
    after each accepted step.
    """
    if not (rtol > 0 and atol > 0):
        raise StudioError(f"tolerances must be positive (rtol={rtol}, atol={atol})", "rtol")
    t0, t1 = float(t0), float(t1)
    span = t1 - t0
    if span == 0.0:
        return OdeSolution(y0, 0, 0, 0, [t0])
    direction = 1.0 if span > 0 else -1.0
    y = y0
    k1 = f(t0, y)
    nfe = 1
    if not bool(torch.isfinite(k1).all()):
        raise NonFiniteError(f"the ODE's right-hand side is not finite at t={t0:.6g}", "ode", t=t0)

    if h0 is None:
        # Hairer's starting step: an Euler step's estimated error at the tolerance.
        scale = atol + rtol * y.abs()
        d0 = float((y / scale).pow(2).mean().sqrt())
        d1 = float((k1 / scale).pow(2).mean().sqrt())
        h = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        h = min(h, abs(span))
        y_e = y + direction * h * k1
        k_e = f(t0 + direction * h, y_e)
        nfe += 1
        d2 = float(((k_e - k1) / scale).pow(2).mean().sqrt()) / h
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1 / 5)
        h = min(100 * h, h1, abs(span))
    else:
        h = min(abs(float(h0)), abs(span))

    t = t0
    ts = [t0]
    steps = rejected = 0
    tiny = 1e-14 * max(abs(t0), abs(t1), 1e-300)
    last_rejected = False
    while direction * (t1 - t) > tiny:
        if cancel is not None and cancel.cancelled:
            raise Cancelled(f"ODE solve cancelled at t={t:.6g}")
        if steps + rejected >= max_steps:
            raise StudioError(f"the adaptive solve took more than {max_steps} steps "
                              f"(reached t={t:.6g} of {t1:.6g}); loosen rtol/atol", "max_steps")
        h = min(h, abs(t1 - t))
        hs = direction * h
        ks = [k1]
        for i in range(1, 7):
            yi = y
            for a, k in zip(_A[i], ks):
                if a != 0.0:
                    yi = yi + (hs * a) * k
            t_i = t + _C[i] * hs if i < 6 else t + hs
            ks.append(f(t_i, yi))
            nfe += 1
        y_new = yi  # stage 7 is evaluated at the 5th-order solution (FSAL)
        err = sum((hs * e) * k for e, k in zip(_E, ks) if e != 0.0)
        if not bool(torch.isfinite(y_new).all()) or not bool(torch.isfinite(ks[-1]).all()):
            err_norm = math.inf
        else:
            err_norm = _norm(err, y, y_new, rtol, atol)
        if err_norm <= 1.0:
            t = t1 if abs(t1 - (t + hs)) <= tiny else t + hs
            y, k1 = y_new, ks[-1]
            steps += 1
            ts.append(t)
            if on_step is not None:
                on_step(t, y)
            fac = 10.0 if err_norm == 0 else min(10.0, max(0.2, 0.9 * err_norm ** (-0.2)))
            if last_rejected:
                fac = min(fac, 1.0)
            h *= fac
            last_rejected = False
        else:
            rejected += 1
            last_rejected = True
            h *= 0.2 if not math.isfinite(err_norm) else max(0.2, 0.9 * err_norm ** (-0.2))
            if h < tiny:
                raise NonFiniteError(f"step size underflow at t={t:.6g} (the ODE is too stiff or "
                                     "not finite there)", "ode", t=t)
    return OdeSolution(y, nfe, steps, rejected, ts)


__all__ = ["dopri5", "OdeSolution"]

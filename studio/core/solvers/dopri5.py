"""Dormand-Prince 5(4) (Dormand & Prince 1980, "A family of embedded Runge-Kutta formulae"):
adaptive steps on the probability-flow ODE to a tolerance, with the step-size control and starting
step of Hairer, Norsett & Wanner, "Solving Ordinary Differential Equations I", II.4."""
from __future__ import annotations

import math
from dataclasses import dataclass
import torch

from ..errors import ParamError, StudioError
from ..odeint import _A, _C, _E, _norm  # the DOPRI5 tableau, shared with the reference integrator
from ..params import param
from ..processes.base import as_time
from ..registry import SOLVERS
from .base import Solver, Step


@SOLVERS.register("dopri5")
@dataclass
class Dopri5(Solver):
    """Seven-stage embedded pair on dx/dt = u(x, t): the 5th-order solution advances, the
    difference to the 4th-order one estimates the local error, and a step is accepted when its
    RMS error relative to atol + rtol |x| is at most 1 for every sample of the batch; the next
    step size is h min(10, max(0.2, 0.9 err^(-1/5))). The last stage is the velocity at the new
    point and the next step's first (FSAL): 6 evaluations per accepted step, plus one for the
    starting-step probe. Only the schedule's end points are used; ``steps`` does not apply and
    ``nfe``, if given, is a cap: a solve that would need more stops with an error, as does one
    that needs more than ``max_steps`` steps. The final denoise reuses the last evaluation."""

    title = "Dormand-Prince 5(4), adaptive"
    order = 5
    adaptive = True
    evals_per_step = 6
    reuses_final_eval = True
    rtol: float = param(1e-5, "relative tolerance of the local error", min=0.0)
    atol: float = param(1e-5, "absolute tolerance of the local error", min=0.0)
    max_steps: int = param(1000, "most steps (accepted and rejected) before giving up", min=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps is not None:
            raise ParamError("dopri5 chooses its own steps from rtol and atol; give nfe (a cap on "
                             "evaluations) or nothing", "steps")
        if not (self.rtol > 0 and self.atol > 0):
            raise ParamError(f"tolerances must be positive (rtol={self.rtol}, atol={self.atol})",
                             "rtol" if self.rtol <= 0 else "atol")

    def num_steps(self) -> int:
        return 1  # one span, [ts[0], ts[-1]]; the steps inside it are adaptive

    def times(self, process):
        ts = super().times(process)
        return torch.stack([ts[0], ts[-1]])

    def sample(self, ctx, x, ts):
        t, t1 = float(ts[0]), float(ts[-1])
        span = t1 - t
        direction = 1.0 if span > 0 else -1.0
        tiny = 1e-14 * max(abs(t), abs(t1), 1e-300)
        used = 0

        def f(ti, xi):
            nonlocal used
            if self.nfe is not None and used >= self.nfe:
                raise StudioError(f"dopri5 needs more than nfe={self.nfe} evaluations at "
                                  f"rtol={self.rtol:g}, atol={self.atol:g} (stopped at t={t:.6g} "
                                  f"on the way to {t1:.6g}); raise nfe or loosen the tolerances",
                                  "dopri5.nfe")
            used += 1
            return ctx(xi.to(x.dtype), as_time(ti))

        pred = f(t, x)
        k1 = pred.velocity
        # Starting step (Hairer II.4): an Euler step whose estimated error meets the tolerance.
        scale = self.atol + self.rtol * x.abs()
        d0 = float((x / scale).pow(2).mean().sqrt())
        d1 = float((k1 / scale).pow(2).mean().sqrt())
        h = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        h = min(h, abs(span))
        d2 = float(((f(t + direction * h, x + (direction * h) * k1).velocity - k1) / scale)
                   .pow(2).mean().sqrt()) / h
        h1 = max(1e-6, h * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** 0.2
        h = min(100 * h, h1, abs(span))

        accepted = tried = 0
        last_rejected = False
        while direction * (t1 - t) > tiny:
            if tried >= self.max_steps:
                raise StudioError(f"dopri5 took more than max_steps={self.max_steps} steps "
                                  f"(reached t={t:.6g} of {t1:.6g}); loosen rtol/atol or raise "
                                  "max_steps", "dopri5.max_steps")
            tried += 1
            h = min(h, abs(t1 - t))
            hs = direction * h
            ks, last = [k1], None
            for i in range(1, 7):
                xi = x + sum((hs * a) * k for a, k in zip(_A[i], ks) if a != 0.0)
                last = f(t + _C[i] * hs if i < 6 else t + hs, xi)
                ks.append(last.velocity)
            x_new = xi  # stage 7 was evaluated at the 5th-order solution (first same as last)
            err = sum((hs * e) * k for e, k in zip(_E, ks) if e != 0.0)
            finite = bool(torch.isfinite(x_new).all()) and bool(torch.isfinite(ks[-1]).all())
            err_norm = _norm(err, x, x_new, self.rtol, self.atol) if finite else math.inf
            if err_norm <= 1.0:
                t = t1 if abs(t1 - (t + hs)) <= tiny else t + hs
                fac = 10.0 if err_norm == 0 else min(10.0, max(0.2, 0.9 * err_norm ** -0.2))
                h *= min(fac, 1.0) if last_rejected else fac
                last_rejected = False
                accepted += 1
                done = t == t1
                total = accepted if done else accepted + math.ceil(abs(t1 - t) / h)
                yield Step(accepted, x_new, pred.x0, final=last if done else None, t=t,
                           total=total)
                x, k1, pred = x_new, ks[-1], last
            else:
                last_rejected = True
                h *= 0.2 if not math.isfinite(err_norm) else max(0.2, 0.9 * err_norm ** -0.2)
                if h < tiny:
                    raise StudioError(f"dopri5: step size underflow at t={t:.6g} (the ODE is not "
                                      "finite or too stiff there)", "dopri5")


"""DPM-Solver-v3 (Zheng, Lu, Bao & Zhu 2023, "DPM-Solver-v3: Improved Diffusion ODE Solver with
Empirical Model Statistics"): a multistep exponential integrator whose parameterization of the
model output is fitted to the model itself.

With lambda = log(alpha / sigma), x^ = x / alpha and the noise prediction eps, the PF-ODE is
dx^/dlambda = -e^{-lambda} eps. For per-dimension coefficients l, s, b (the empirical model
statistics, EMS) it is rewritten as

    dx^/dlambda = -l x^ + f,        f = l x^ - e^{-lambda} eps     (l = 0: eps, l = 1: x0 model)
    f' ~ s f + b along trajectories,  g = e^{-s (lambda - lambda_s)} f - B(lambda),
    B(lambda) = b (1 - e^{-s (lambda - lambda_s)}) / s,

so that g is as close to constant along the trajectory as the model allows, and solved exactly but
for g, which is replaced by the Lagrange polynomial through its last ``solver_order`` values:

    x^_t = e^{-l h} x^_s + int_{lambda_s}^{lambda_t} e^{-l (lambda_t - u) + s (u - lambda_s)}
           (B(u) + g(u)) du.

The EMS are those of the paper's definitions, measured from the model on its own trajectories:
l = E[diag(sigma d eps / dx)] (the per-dimension linear part of the model, by a finite-difference
Jacobian-vector probe with Rademacher vectors; clipped to [0, 1.5]) and (s, b) the per-dimension
least-squares fit of df/dlambda on f (finite differences along the trajectory; ridge-regularised
towards s = 0 by 1 % of E f^2, where f hardly varies across samples; |s| <= 2). They are
taken at each step's start and frozen over the step (the integrals then have the closed form above,
evaluated by 16-point Gauss-Legendre), which keeps the order of the multistep method for any EMS.
They are measured once per (model, grid) on ``ems_samples`` trajectories of DPM-Solver++(2M) on the
grid refined ``ems_refine`` times: those evaluations (about (ems_refine + 2) x steps on
ems_samples points) are made outside the run's NFE count, like the paper's precomputed statistics.
``statistics`` chooses what is fitted: ``l`` alone (the default), ``l,b`` or the paper's ``l,s,b``.
Measured (benchmarks/solver_accuracy.py): on the Gaussian closed form l,s,b is best (RMSE 1.1e-3 at
32 steps, against 1.4e-3 for l alone and 3.0e-3 for the data-prediction form l = 1), but on the
8-mode mixture at NFE 10 the s-fit from a few hundred pilot trajectories is unreliable (RMSE 2.9
against 0.155 for l alone, which beats UniPC's 0.159 and DPM-Solver++(3M)'s 0.24 there).
Not implemented: the paper's pseudo-order and half-corrector. A step from alpha = 0 (or so close
that lambda grows by more than 16, see ``_common.from_pure_noise``) is DDIM's and starts a new
history; near pure noise (lambda < -9) the statistics are fixed to the data-prediction form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..params import param
from ..registry import SOLVERS
from torch import Tensor

from ._common import from_pure_noise
from .base import SolveContext, Solver, Step

_GL_U, _GL_W = np.polynomial.legendre.leggauss(12)
#: below this lambda (sigma / alpha > e^9) f = l x0 - (1 - l) e^-lambda eps is ill-conditioned unless
#: l = 1: the statistics there are fixed to the data-prediction form (l = 1, s = b = 0)
LAMBDA_DATA = -9.0


def _lam(p, t) -> float:
    return 0.5 * float(p.logsnr(torch.as_tensor(t, dtype=torch.float64)))


class EMS:
    """The statistics on the refined grid's knots (finite lambda only), with the cumulative
    integrals that make every step exact for piecewise-linear l, s, b."""

    def __init__(self, knots: list, ell: Tensor, s: Tensor, b: Tensor):
        self.knots, self.l, self.s, self.b = knots, ell, s, b
        self.Lc, self.Sc, self.Bc = [torch.zeros_like(ell[0])], [torch.zeros_like(ell[0])], \
            [torch.zeros_like(ell[0])]
        for j in range(len(knots) - 1):
            d = knots[j + 1] - knots[j]
            self.Lc.append(self.Lc[-1] + 0.5 * d * (ell[j] + ell[j + 1]))
            self.Sc.append(self.Sc[-1] + 0.5 * d * (s[j] + s[j + 1]))
            self.Bc.append(self.Bc[-1] + self.b_from_knot(j, torch.tensor([knots[j + 1]]))[0])
        self.index = {round(v, 12): j for j, v in enumerate(knots)}

    def _cum(self, arr, cum, j, u: Tensor) -> Tensor:
        """int_{knot_0}^{u} of the piecewise-linear arr for u [Q] in piece j: [Q, *shape]."""
        d = self.knots[j + 1] - self.knots[j]
        tau = (u - self.knots[j]).reshape((-1,) + (1,) * arr[j].ndim).to(arr.dtype)
        return cum[j] + arr[j] * tau + (arr[j + 1] - arr[j]) * (tau * tau / (2 * d))

    def L(self, j, u):
        return self._cum(self.l, self.Lc, j, u)

    def S(self, j, u):
        return self._cum(self.s, self.Sc, j, u)

    def b_from_knot(self, j, u: Tensor) -> Tensor:
        """int_{knot_j}^{u} e^{-S(r)} b(r) dr for u [Q] in piece j (Gauss-Legendre): [Q, *shape]."""
        lo, d = self.knots[j], self.knots[j + 1] - self.knots[j]
        gu, gw = torch.as_tensor(_GL_U), torch.as_tensor(_GL_W)
        half = 0.5 * (u.to(torch.float64) - lo)                         # [Q]
        r = (half[:, None] * gu[None] + lo + half[:, None]).reshape(-1)   # [Q * P]
        tau = (r - lo).reshape((-1,) + (1,) * self.b[j].ndim).to(self.b.dtype)
        bl = self.b[j] + (self.b[j + 1] - self.b[j]) * (tau / d)
        val = torch.exp(-self.S(j, r)) * bl                               # [Q * P, *shape]
        val = val.reshape((len(u), len(gu)) + tuple(self.b[j].shape))
        w = (half[:, None] * gw[None]).reshape((len(u), len(gu)) + (1,) * self.b[j].ndim)
        return (w.to(val.dtype) * val).sum(1)

    def B(self, j, u):
        return self.Bc[j] + self.b_from_knot(j, u)

    def at(self, lam: float) -> int:
        return self.index[round(lam, 12)]


def measure_ems(model, ts, n: int, refine: int, seed: int = 0, stats: str = "l,s,b") -> EMS:
    """The statistics on ``n`` pilot trajectories over ``ts`` refined ``refine`` times."""
    from ..model import Denoiser
    from .dpm_solver_pp_2m import DPMSolverPP2M
    p = model.process
    den = Denoiser(model.network, p)
    g = torch.Generator().manual_seed(seed)
    shape = (n,) + tuple(model.network.data_shape)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * p.prior_std
    lams = [_lam(p, t) for t in ts]
    fine, fine_lam = [torch.as_tensor(ts[0], dtype=torch.float64)], [lams[0]]
    for i in range(len(ts) - 1):
        a, b = lams[i], lams[i + 1]
        if math.isfinite(a):
            for k in range(1, refine):
                lk = a + (b - a) * k / refine
                fine.append(p.t_of_logsnr(torch.tensor(2.0 * lk, dtype=torch.float64)))
                fine_lam.append(lk)
        fine.append(torch.as_tensor(ts[i + 1], dtype=torch.float64))
        fine_lam.append(b)
    fine_t = torch.stack(fine)
    ctx = SolveContext(model=den, randn_like=lambda v: torch.zeros_like(v))
    xs = [x]
    for step in DPMSolverPP2M(steps=len(fine_t) - 1).sample(ctx, x, fine_t):
        xs.append(step.x)
    keep = [j for j, lv in enumerate(fine_lam) if math.isfinite(lv)]
    knots = [fine_lam[j] for j in keep]
    ells, ss, bs = [], [], []
    # one set of probe vectors for every knot: the statistics must be smooth in lambda (g's
    # polynomial extrapolation, and so the order, depends on it), not re-randomised per knot
    v = torch.randint(0, 2, shape, generator=g).to(torch.float64) * 2 - 1
    preds = {j: den(xs[j], fine_t[j]) for j in keep}
    eps = {j: pr.eps for j, pr in preds.items()}
    x0s = {j: pr.x0 for j, pr in preds.items()}
    for pos, j in enumerate(keep):
        sg = float(p.sigma(fine_t[j]))
        delta = 1e-4 * sg
        jv = (den(xs[j] + delta * v, fine_t[j]).eps - eps[j]) / delta
        ell = torch.clamp((sg * v * jv).mean(0), 0.0, 1.5)
        if fine_lam[j] < LAMBDA_DATA:   # near pure noise: the data-prediction form, l = 1
            ells.append(torch.ones_like(ell))
            ss.append(torch.zeros_like(ell))
            bs.append(torch.zeros_like(ell))
            continue
        nb = [keep[q] for q in (pos - 1, pos + 1) if 0 <= q < len(keep)]
        if len(nb) == 2:   # one-sided across a much wider gap (e.g. next to a pure-noise jump)
            gaps = [abs(fine_lam[m] - fine_lam[j]) for m in nb]
            if max(gaps) > 4 * min(gaps):
                nb = [nb[gaps.index(min(gaps))]]
        lo, hi = min(nb + [j]), max(nb + [j])

        def f_at(m, ell=ell):
            return ell * x0s[m] - (1.0 - ell) * math.exp(-fine_lam[m]) * eps[m]
        f = f_at(j)
        df = (f_at(hi) - f_at(lo)) / (fine_lam[hi] - fine_lam[lo])
        fc, dc = f - f.mean(0), df - df.mean(0)
        var = (fc * fc).mean(0)
        # ridge towards s = 0: where f hardly varies across samples (near-Gaussian data, where the
        # linear part l captures all of the x-dependence) the fit is degenerate and b alone fits
        ridge = 1e-2 * (f * f).mean(0) + 1e-30
        sl = ((fc * dc).mean(0) / (var + ridge)).clamp(-2.0, 2.0)
        if "s" not in stats:
            sl = torch.zeros_like(sl)
        if "b" not in stats:
            ells.append(ell)
            ss.append(torch.zeros_like(ell))
            bs.append(torch.zeros_like(ell))
            continue
        ells.append(ell)
        ss.append(sl)
        bs.append(df.mean(0) - sl * f.mean(0))
    return EMS(knots, torch.stack(ells), torch.stack(ss), torch.stack(bs))


@SOLVERS.register("dpm-solver-v3")
@dataclass
class DPMSolverV3(Solver):
    """Multistep exponential integrator on the EMS parameterization (Zheng et al. 2023); the EMS
    are measured from the model on its own trajectories before the run (outside the NFE count)."""

    title = "DPM-Solver-v3 (empirical model statistics)"
    order = 3
    solver_order: int = param(3, "multistep order (Lagrange points of g)", min=1, max=3)
    ems_samples: int = param(128, "trajectories the statistics are measured on", min=8)
    ems_refine: int = param(3, "pilot steps per grid step (the statistics' knots)", min=1)
    statistics: str = param("l", "which statistics are fitted (the others are 0): l alone, l and b, "
                            "or the paper's l, s, b (see the module docstring)",
                            choices=("l", "l,b", "l,s,b"))

    def __post_init__(self):
        super().__post_init__()
        self._ems_cache: dict = {}

    def ems(self, model, ts) -> EMS:
        key = (id(model.network), id(model.process), tuple(float(t) for t in ts))
        if key not in self._ems_cache:
            self._ems_cache = {key: measure_ems(model, ts, self.ems_samples, self.ems_refine,
                                                stats=self.statistics)}
        return self._ems_cache[key]

    def sample(self, ctx, x, ts):
        p = ctx.process
        ems = self.ems(ctx.model, ts)
        hist: list = []      # (lambda, x0, eps)
        for i in range(len(ts) - 1):
            s_t, t = ts[i], ts[i + 1]
            lam_s, lam_t = _lam(p, s_t), _lam(p, t)
            pred = ctx(x, s_t)
            a_t, sg_t = p.alpha(t).to(x.dtype), p.sigma(t).to(x.dtype)
            if from_pure_noise(lam_s, lam_t):   # alpha = 0 up to rounding: DDIM's step
                hist = []
                x = (a_t * pred.x0 + sg_t * pred.eps).to(x.dtype)
                yield Step(i + 1, x, pred.x0)
                continue
            hist = (hist + [(lam_s, pred.x0, pred.eps)])[-self.solver_order:]
            xh = x / p.alpha(s_t).to(x.dtype)
            x = (a_t * self.step(ems, hist, xh, lam_s, lam_t)).to(x.dtype)
            yield Step(i + 1, x, pred.x0)

    def step(self, ems: EMS, hist, xh, lam_s: float, lam_t: float):
        """x^ at lambda_t (module docstring), exact but for g's Lagrange polynomial."""
        a, c = ems.at(lam_s), ems.at(lam_t)
        Sa, Ba, Lc = ems.Sc[a], ems.Bc[a], ems.Lc[c]
        gs = []
        for lam_i, x0_i, eps_i in hist:
            k = ems.at(lam_i)
            f = ems.l[k] * x0_i - (1.0 - ems.l[k]) * math.exp(-lam_i) * eps_i
            gs.append(torch.exp(-(ems.Sc[k] - Sa)) * f - torch.exp(Sa) * (ems.Bc[k] - Ba))
        nodes = [u for u, _, _ in hist]
        out = torch.exp(-(Lc - ems.Lc[a])) * xh
        gu, gw = torch.as_tensor(_GL_U), torch.as_tensor(_GL_W)
        view = (-1,) + (1,) * xh.ndim
        for j in range(a, c):
            lo, hi = ems.knots[j], ems.knots[j + 1]
            u = 0.5 * (hi - lo) * gu + 0.5 * (hi + lo)                    # [Q]
            w = (0.5 * (hi - lo) * gw).reshape(view).to(xh.dtype)
            e = torch.exp(-(Lc - ems.L(j, u)) + (ems.S(j, u) - Sa))      # [Q, *shape]
            bterm = torch.exp(Sa) * (ems.B(j, u) - Ba)
            e, bterm = e.unsqueeze(1), bterm.unsqueeze(1)                 # [Q, 1, *shape]
            basis = [torch.as_tensor([_basis(nodes, m, float(uq)) for uq in u],
                                     dtype=xh.dtype).reshape(view) for m in range(len(gs))]
            poly = sum(bm * gm.unsqueeze(0) for bm, gm in zip(basis, gs))  # [Q, B, *shape]
            out = out + (w * e * (bterm + poly)).sum(0)
        return out


def _basis(nodes, j: int, u: float) -> float:
    out = 1.0
    for k, nk in enumerate(nodes):
        if k != j:
            out *= (u - nk) / (nodes[j] - nk)
    return out

"""Model diagnostics from the literature, each a function on a :class:`Denoiser` (network +
process + guidance). Torch and numpy only; the app draws the results.

* :func:`jacobian_asymmetry` / :func:`asymmetry_over_time` - is the learned field a gradient?
  ||J - J^T||_F / ||J||_F of the score's Jacobian, exactly (low-D) or from Jacobian-vector and
  vector-Jacobian products with Gaussian probes (E||A v||^2 = ||A||_F^2). A true score is the
  gradient of log p_t, so its Jacobian (the Hessian) is symmetric: analytic networks give ~1e-16.
* :func:`curl_2d` - the 2-D curl d s_y/dx - d s_x/dy of the score on a grid.
* :func:`fokker_planck_residual` - how far the score is from solving the score Fokker-Planck
  equation of the forward SDE dx = f x dt + g dW (Lai et al. 2023, "FP-Diffusion"):
  d_t s = grad_x [ (g^2/2)(div s + |s|^2) - f x.s ], by automatic differentiation (low-D).
* :func:`ode_sde_gap` - probability-flow ODE samples against reverse-SDE samples at fine steps
  (distribution distances; needs a registered SDE solver such as ``euler-maruyama``).
* :func:`gaussian_departure` - trajectories of the closed-form Gaussian model with the data's mean
  and covariance beside the network's, from the same noise, and the time at which they part.
* :func:`density_grid` / :func:`density_evolution` - p_t on a 2-D grid: exact for networks with
  ``log_prob`` (Gaussian mixtures), a Gaussian KDE of particles otherwise.
* :func:`velocity_grid` / :func:`streamlines` - the PF-ODE velocity field at time t on a grid and
  streamlines of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from .errors import ParamError
from .model import Denoiser
from .processes.base import as_time

FIELDS = ("score", "eps", "x0", "velocity")


# -- helpers ----------------------------------------------------------------------------------------
@dataclass
class Grid2D:
    """Values on a regular 2-D grid: ``values[iy, ix]`` at (xs[ix], ys[iy])."""

    xs: np.ndarray
    ys: np.ndarray
    values: np.ndarray
    t: float = 0.0
    method: str = ""
    #: further named arrays on the same grid (e.g. the velocity's components)
    extra: dict = field(default_factory=dict)

    def points(self) -> np.ndarray:
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.stack([gx.ravel(), gy.ravel()], 1)


def _grid(xlim, ylim, n: int) -> tuple[np.ndarray, np.ndarray, Tensor]:
    xs = np.linspace(float(xlim[0]), float(xlim[1]), int(n))
    ys = np.linspace(float(ylim[0]), float(ylim[1]), int(n))
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float64)
    return xs, ys, pts


def _check_2d(den: Denoiser, what: str) -> None:
    if tuple(den.network.data_shape) != (2,):
        raise ParamError(f"{what} needs 2-D data; the network's data shape is "
                         f"{list(den.network.data_shape)}", "network")


def _field(den: Denoiser, x: Tensor, t, kind: str) -> Tensor:
    if kind not in FIELDS:
        raise ParamError(f"unknown field {kind!r}; valid: {', '.join(FIELDS)}", "field")
    return getattr(den(x, t), kind)


def auto_limits(points, margin: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square view around 2-D points (0.5-99.5 percentiles plus a margin)."""
    p = np.asarray(points, dtype=np.float64).reshape(len(points), -1)[:, :2]
    lo, hi = np.percentile(p, 0.5, axis=0), np.percentile(p, 99.5, axis=0)
    c, half = 0.5 * (lo + hi), 0.5 * float(np.max(hi - lo)) * (1 + 2 * margin) + 1e-9
    return (c[0] - half, c[0] + half), (c[1] - half, c[1] + half)


def marginal_points(den: Denoiser, x0: Tensor, t: float, seed: int = 0) -> Tensor:
    """x_t = alpha(t) x0 + sigma(t) eps with seeded eps (points where p_t has its mass)."""
    g = torch.Generator().manual_seed(int(seed))
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    return den.process.marginal_sample(x0.to(torch.float64), as_time(t), eps)


def data_samples(den: Denoiser, n: int, seed: int = 0, data=None) -> Tensor:
    """Data samples: ``data`` if given, else drawn from an analytic network that can sample."""
    if data is not None:
        return torch.as_tensor(np.asarray(data), dtype=torch.float64)[:n]
    net = den.network
    if hasattr(net, "sample"):
        return net.sample(n, torch.Generator().manual_seed(int(seed))).to(torch.float64)
    if hasattr(net, "points"):
        return torch.as_tensor(np.asarray(net.points), dtype=torch.float64)[:n]
    raise ParamError(f"network {net.id!r} cannot sample its data; give data samples", "data")


# -- conservativity ---------------------------------------------------------------------------------
def jacobian(den: Denoiser, x: Tensor, t, kind: str = "score") -> Tensor:
    """The full Jacobian d field / dx per sample, [B, D, D] (one backward pass per dimension)."""
    b = x.shape[0]
    with torch.enable_grad():
        xf = x.reshape(b, -1).detach().to(torch.float64).requires_grad_(True)
        y = _field(den, xf.reshape(x.shape), t, kind).reshape(b, -1)
        rows = [torch.autograd.grad(y[:, i].sum(), xf, retain_graph=i < y.shape[1] - 1)[0]
                for i in range(y.shape[1])]
    return torch.stack(rows, 1)


def jacobian_asymmetry(den: Denoiser, x: Tensor, t, *, kind: str = "score", method: str = "auto",
                       probes: int = 8, seed: int = 0, exact_max_dim: int = 64) -> Tensor:
    """Per-sample ||J - J^T||_F / ||J||_F of the field's Jacobian at (x, t).

    ``method``: exact (full Jacobian), probes (Jv by forward-over-reverse differentiation and J^T v
    by a backward pass, ``probes`` Gaussian v per sample), auto (exact up to exact_max_dim)."""
    b = x.shape[0]
    d = int(np.prod(x.shape[1:]))
    if method == "auto":
        method = "exact" if d <= exact_max_dim else "probes"
    if method == "exact":
        j = jacobian(den, x, t, kind)
        num = (j - j.transpose(1, 2)).pow(2).sum((1, 2)).sqrt()
        den_ = j.pow(2).sum((1, 2)).sqrt()
        return (num / den_.clamp_min(1e-300)).detach()
    if method != "probes":
        raise ParamError(f"unknown method {method!r}; valid: auto, exact, probes", "method")
    g = torch.Generator().manual_seed(int(seed))
    num = torch.zeros(b, dtype=torch.float64)
    nrm = torch.zeros(b, dtype=torch.float64)
    xf0 = x.reshape(b, -1).detach().to(torch.float64)
    for _ in range(int(probes)):
        v = torch.randn(b, d, generator=g, dtype=torch.float64)
        with torch.enable_grad():
            xf = xf0.clone().requires_grad_(True)
            y = _field(den, xf.reshape(x.shape), t, kind).reshape(b, -1)
            # J^T v: one backward pass
            jtv = torch.autograd.grad(y, xf, v, create_graph=True)[0]
            # J v = d/dw (w . J^T v)... via the double-backward trick: grad of (J^T w).v in w
            w = torch.zeros(b, d, dtype=torch.float64, requires_grad=True)
            jtw = torch.autograd.grad(y, xf, w, create_graph=True)[0]
            jv = torch.autograd.grad((jtw * v).sum(), w)[0]
        num += (jv - jtv.detach()).pow(2).sum(1)
        nrm += jv.pow(2).sum(1)
    return (num / nrm.clamp_min(1e-300)).sqrt()


@dataclass
class AsymmetryCurve:
    t: np.ndarray
    #: mean over points of the per-point ratio, per t
    mean: np.ndarray
    median: np.ndarray
    #: per (t, point) ratios [T, N]
    ratios: np.ndarray
    method: str


def asymmetry_over_time(den: Denoiser, x0: Tensor, ts: Sequence[float], *, kind: str = "score",
                        method: str = "auto", probes: int = 8, seed: int = 0) -> AsymmetryCurve:
    """:func:`jacobian_asymmetry` at marginal points x_t (from data samples ``x0``) for each t."""
    rows = []
    for i, t in enumerate(ts):
        xt = marginal_points(den, x0, t, seed + i)
        rows.append(jacobian_asymmetry(den, xt, float(t), kind=kind, method=method, probes=probes,
                                       seed=seed + i).numpy())
    r = np.stack(rows)
    return AsymmetryCurve(np.asarray(ts, dtype=np.float64), r.mean(1), np.median(r, 1), r,
                          method)


def curl_2d(den: Denoiser, t, xlim, ylim, n: int = 64, kind: str = "score") -> Grid2D:
    """curl = d f_y/dx - d f_x/dy of a 2-D field on an n x n grid; ``extra['relative']`` divides
    by ||J||_F (so it reads like the asymmetry ratio, up to a factor sqrt(2))."""
    _check_2d(den, "curl_2d")
    xs, ys, pts = _grid(xlim, ylim, n)
    j = jacobian(den, pts, float(t), kind)  # j[b, i, k] = d f_i / d x_k
    curl = (j[:, 1, 0] - j[:, 0, 1]).numpy().reshape(n, n)
    rel = curl / np.maximum(j.pow(2).sum((1, 2)).sqrt().numpy().reshape(n, n), 1e-300)
    return Grid2D(xs, ys, curl, float(t), "autograd", {"relative": rel})


# -- Fokker-Planck ----------------------------------------------------------------------------------
@dataclass
class FokkerPlanckCurve:
    t: np.ndarray
    #: mean ||residual|| / mean ||d_t s|| per t
    relative: np.ndarray
    #: mean ||residual|| per t
    absolute: np.ndarray
    #: mean ||d_t s|| per t (the scale)
    scale: np.ndarray


def fokker_planck_residual_at(den: Denoiser, x: Tensor, t: float, fd_step: float = 0.0) -> tuple[Tensor, Tensor]:
    """(residual, d_t s) per point [B, D] of the score Fokker-Planck equation at time t.

    d_t s by differentiating through t (per-sample times), or by central differences with step
    ``fd_step`` (relative to t) when the network is not differentiable in t or fd_step > 0."""
    proc = den.process
    b = x.shape[0]
    d = int(np.prod(x.shape[1:]))
    tt = torch.full((b,), float(t), dtype=torch.float64)
    f, g2 = float(proc.f(as_time(t))), float(proc.g2(as_time(t)))
    with torch.enable_grad():
        xf = x.reshape(b, -1).detach().to(torch.float64).requires_grad_(True)
        tv = tt.clone().requires_grad_(fd_step == 0.0)
        s = den(xf.reshape(x.shape), tv).score.reshape(b, -1)
        # d_t s, one component at a time (each sample has its own t)
        dts = None
        if fd_step == 0.0:
            cols = []
            for i in range(d):
                gi = torch.autograd.grad(s[:, i].sum(), tv, retain_graph=True, allow_unused=True)[0]
                if gi is None:
                    cols = None
                    break
                cols.append(gi)
            if cols is not None:
                dts = torch.stack(cols, 1)
        div = torch.zeros(b, dtype=torch.float64)
        for i in range(d):
            div = div + torch.autograd.grad(s[:, i].sum(), xf, create_graph=True)[0][:, i]
        h = 0.5 * g2 * (div + (s * s).sum(1)) - f * (xf * s).sum(1)
        grad_h = torch.autograd.grad(h.sum(), xf)[0]
    if dts is None:
        eps = (fd_step or 1e-4) * max(abs(float(t)), 1e-3)
        with torch.no_grad():
            xr = x.reshape(b, -1).to(torch.float64).reshape(x.shape)
            sp = den(xr, float(t) + eps).score.reshape(b, -1)
            sm = den(xr, float(t) - eps).score.reshape(b, -1)
        dts = (sp - sm) / (2 * eps)
    return (dts.detach() - grad_h.detach()), dts.detach()


def fokker_planck_residual(den: Denoiser, x0: Tensor, ts: Sequence[float], *, seed: int = 0,
                           fd_step: float = 0.0) -> FokkerPlanckCurve:
    """Residual of the score Fokker-Planck equation at marginal points x_t (from data ``x0``)."""
    rel, ab, sc = [], [], []
    for i, t in enumerate(ts):
        xt = marginal_points(den, x0, t, seed + i)
        r, dts = fokker_planck_residual_at(den, xt, float(t), fd_step)
        a, s = float(r.norm(dim=1).mean()), float(dts.norm(dim=1).mean())
        ab.append(a)
        sc.append(s)
        rel.append(a / max(s, 1e-300))
    return FokkerPlanckCurve(np.asarray(ts, dtype=np.float64), np.asarray(rel), np.asarray(ab),
                             np.asarray(sc))


# -- probability-flow ODE against the reverse SDE -------------------------------------------------
@dataclass
class GapResult:
    available: bool
    reason: str = ""
    ode_solver: str = ""
    sde_solver: str = ""
    steps: int = 0
    #: distribution distances: ODE vs SDE samples, each to data, and the data-vs-data floor
    swd_ode_sde: float = float("nan")
    mmd_ode_sde: float = float("nan")
    swd_ode_data: float = float("nan")
    swd_sde_data: float = float("nan")
    swd_floor: float = float("nan")
    ode_samples: Optional[Tensor] = None
    sde_samples: Optional[Tensor] = None


def _pick_sde(sde_solver: str) -> tuple[Optional[str], dict, str]:
    from .registry import SOLVERS

    if sde_solver == "auto":
        for sid in ("euler-maruyama",):
            if sid in SOLVERS:
                return sid, {}, ""
        return None, {}, "no reverse-SDE solver registered (e.g. euler-maruyama)"
    sid, _, rest = sde_solver.partition(":")
    params = {}
    for part in filter(None, rest.split(":")):
        k, _, v = part.partition("=")
        params[k] = float(v) if v.replace(".", "", 1).replace("e-", "", 1).isdigit() else v
    if sid not in SOLVERS:
        return None, {}, f"solver {sid!r} is not registered"
    return sid, params, ""


def ode_sde_gap(den: Denoiser, x_T: Tensor, *, steps: int = 200, ode_solver: str = "heun",
                sde_solver: str = "auto", schedule: str = "karras", seed: int = 0, data=None,
                projections: int = 256, cancel=None) -> GapResult:
    """PF-ODE samples vs reverse-SDE samples from the same prior noise at ``steps`` steps.

    Both sample the same p_0 when the score is exact; a trained score's ODE and SDE disagree
    where it is wrong. Skipped (``available`` False, with a reason) without an SDE solver."""
    from .compare import distances
    from .pipeline import build_solver
    from .runner import SamplingRun

    sid, params, why = _pick_sde(sde_solver)
    if sid is None:
        return GapResult(False, why, ode_solver, sde_solver, steps)
    ode = build_solver(ode_solver, {"steps": steps, "schedule": schedule}, "ode_solver")
    sde = build_solver(sid, {**params, "steps": steps, "schedule": schedule}, "sde_solver")
    if not sde.is_stochastic():
        return GapResult(False, f"{sid} is not stochastic with these parameters", ode_solver, sid,
                         steps)
    a = SamplingRun(den, ode, x_T, seed=seed, branch="ode", cancel=cancel).run().samples
    b = SamplingRun(den, sde, x_T, seed=seed, branch="sde", cancel=cancel).run().samples
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    res = GapResult(True, "", ode_solver, sid, steps, ode_samples=a, sde_samples=b)
    res.swd_ode_sde = distances.sliced_wasserstein(a64, b64, projections, seed)
    res.mmd_ode_sde = distances.mmd(a64, b64)
    try:
        ref = data_samples(den, 4 * len(a), seed + 1, data)
    except ParamError:
        return res
    res.swd_ode_data = distances.sliced_wasserstein(a64, ref, projections, seed)
    res.swd_sde_data = distances.sliced_wasserstein(b64, ref, projections, seed)
    if data is None and hasattr(den.network, "sample"):
        fresh = den.network.sample(len(a), torch.Generator().manual_seed(seed + 2)).to(torch.float64)
        res.swd_floor = distances.sliced_wasserstein(fresh, ref, projections, seed)
    return res


# -- Gaussian approximation ---------------------------------------------------------------------------
@dataclass
class GaussianDeparture:
    t: np.ndarray
    #: RMS per-dimension distance between the network's and the Gaussian model's trajectories
    distance: np.ndarray
    #: distance / the marginal's RMS scale sqrt(alpha^2 tr(Sigma)/D + sigma^2)
    relative: np.ndarray
    #: the first time (going from noise to data) the relative distance exceeds the threshold
    parting_t: Optional[float]
    #: per sample: the first such time (NaN if never)
    parting_t_per_sample: np.ndarray
    threshold: float
    network_path: Tensor
    gaussian_path: Tensor


def gaussian_departure(den: Denoiser, x_T: Tensor, x0: Tensor | None = None, *, mean=None,
                       cov=None, steps: int = 100, solver: str = "adaptive",
                       schedule: str = "karras", threshold: float = 0.1, rtol: float = 1e-7,
                       atol: float = 1e-7, cancel=None) -> GaussianDeparture:
    """The network's PF-ODE trajectories beside those of the Gaussian N(mean, cov) (from data
    samples ``x0`` or given), both from ``x_T`` on the same time grid (``steps`` steps of
    ``schedule``); the Gaussian's in closed form
    (:meth:`studio.core.networks.gaussian.Gaussian.ode_solution`), the network's by an adaptive
    solve between grid times (``solver="adaptive"``, rtol/atol) or a registered solver's steps."""
    from .networks.gaussian import Gaussian
    from .odeint import dopri5
    from .pipeline import build_solver
    from .registry import SCHEDULES
    from .runner import SamplingRun

    if x0 is not None:
        flat = torch.as_tensor(x0, dtype=torch.float64).reshape(len(x0), -1)
        mean = flat.mean(0).tolist()
        cov = torch.atleast_2d(torch.cov(flat.T)).tolist()
    if mean is None:
        raise ParamError("give data samples x0, or mean and cov", "x0")
    if len(mean) != int(np.prod(den.network.data_shape)):
        raise ParamError(f"mean has {len(mean)} entries, the data has "
                         f"{int(np.prod(den.network.data_shape))} dimensions", "mean")
    gauss = Gaussian(mean=list(map(float, mean)), cov=cov)
    b = x_T.shape[0]
    x = x_T.to(torch.float64)
    if solver == "adaptive":
        ts = SCHEDULES.get(schedule, "schedule")().times(den.process, steps)
        path = [x]
        with torch.no_grad():
            for i in range(steps):
                x = dopri5(lambda t, y: den(y, t).velocity, x, float(ts[i]), float(ts[i + 1]),
                           rtol=rtol, atol=atol, cancel=cancel).y
                path.append(x)
        net_path = torch.stack(path).reshape(len(ts), b, -1)
    else:
        sv = build_solver(solver, {"steps": steps, "schedule": schedule, "denoise_final": False},
                          "solver")
        res = SamplingRun(den, sv, x, record=True, cancel=cancel).run()
        ts = res.t
        net_path = res.trajectory.reshape(len(ts), b, -1).to(torch.float64)
    xf = x_T.reshape(b, -1).to(torch.float64)
    gauss_path = torch.stack([gauss.ode_solution(xf, ts[0], t, den.process) for t in ts])
    diff = (net_path - gauss_path).pow(2).mean(2)  # [T, B] per-dimension mean square
    d = diff.mean(1).sqrt()
    tr = float(torch.as_tensor(cov, dtype=torch.float64).diagonal().mean())
    a, s = den.process.alpha(ts), den.process.sigma(ts)
    scale = (a * a * tr + s * s).sqrt()
    rel = d / scale
    rel_ps = diff.sqrt() / scale[:, None]
    over = (rel > threshold).numpy()
    parting = float(ts[int(np.argmax(over))]) if over.any() else None
    over_ps = (rel_ps > threshold).numpy()
    first = np.where(over_ps.any(0), ts.numpy()[np.argmax(over_ps, 0)], np.nan)
    return GaussianDeparture(ts.numpy(), d.numpy(), rel.numpy(), parting, first, threshold,
                             net_path.reshape((len(ts),) + tuple(x_T.shape)),
                             gauss_path.reshape((len(ts),) + tuple(x_T.shape)))


# -- densities and fields on a grid ---------------------------------------------------------------------
def kde_log_density(points: Tensor, particles: Tensor, bandwidth: float | Sequence[float] | None = None,
                    block: int = 4096) -> Tensor:
    """log of a Gaussian KDE of ``particles`` [N, D] at ``points`` [M, D]; bandwidth per dimension
    by Scott's rule (N^(-1/(D+4)) times the particles' standard deviation) unless given."""
    p = torch.as_tensor(particles, dtype=torch.float64).reshape(len(particles), -1)
    q = torch.as_tensor(points, dtype=torch.float64).reshape(len(points), -1)
    n, d = p.shape
    if bandwidth is None:
        h = p.std(0).clamp_min(1e-12) * n ** (-1.0 / (d + 4))
    else:
        h = torch.as_tensor(bandwidth, dtype=torch.float64).expand(d)
    out = []
    for i in range(0, len(q), block):
        z = (q[i:i + block, None, :] - p[None]) / h
        out.append(torch.logsumexp(-0.5 * z.pow(2).sum(-1), 1))
    lognorm = math.log(n) + torch.log(h).sum() + 0.5 * d * math.log(2 * math.pi)
    return torch.cat(out) - lognorm


def density_grid(den: Denoiser, t: float | None, xlim, ylim, n: int = 128,
                 particles: Tensor | None = None, bandwidth=None) -> Grid2D:
    """log p_t on an n x n grid: exact where the network has ``log_prob`` (t None: the data),
    else a KDE of ``particles`` (samples of p_t, e.g. a trajectory's points at t)."""
    _check_2d(den, "density_grid")
    xs, ys, pts = _grid(xlim, ylim, n)
    net = den.network
    if hasattr(net, "log_prob") and particles is None:
        with torch.no_grad():
            lp = net.log_prob(pts, t, den.process) if t is not None else net.log_prob(pts)
        return Grid2D(xs, ys, lp.numpy().reshape(n, n), float(t or 0.0), "exact")
    if particles is None:
        raise ParamError(f"network {net.id!r} has no exact density; give particles for a KDE",
                         "particles")
    lp = kde_log_density(pts, particles, bandwidth)
    return Grid2D(xs, ys, lp.numpy().reshape(n, n), float(t or 0.0), "kde")


def density_evolution(den: Denoiser, ts: Sequence[float], xlim, ylim, n: int = 96,
                      trajectory: Tensor | None = None) -> list[Grid2D]:
    """:func:`density_grid` at each t; with ``trajectory`` [T, B, 2] (particles at the same ts,
    e.g. a recorded run) a KDE of its points wherever the density is not exact."""
    out = []
    exact = hasattr(den.network, "log_prob")
    for i, t in enumerate(ts):
        parts = None if exact or trajectory is None else trajectory[i]
        out.append(density_grid(den, float(t), xlim, ylim, n, parts))
    return out


def velocity_grid(den: Denoiser, t: float, xlim, ylim, n: int = 32, kind: str = "velocity") -> Grid2D:
    """The field (PF-ODE velocity by default) on an n x n grid: ``values`` its speed,
    ``extra['u']``, ``extra['v']`` its components."""
    _check_2d(den, "velocity_grid")
    xs, ys, pts = _grid(xlim, ylim, n)
    with torch.no_grad():
        f = _field(den, pts, float(t), kind)
    u, v = f[:, 0].numpy().reshape(n, n), f[:, 1].numpy().reshape(n, n)
    return Grid2D(xs, ys, np.hypot(u, v), float(t), kind, {"u": u, "v": v})


def streamlines(den: Denoiser, t: float, seeds: Tensor, *, length: float | None = None,
                steps: int = 40, kind: str = "velocity", normalise: bool = True) -> Tensor:
    """Streamlines of the frozen field at time t from ``seeds`` [K, 2] (RK4 in arc length when
    ``normalise``): [K, steps + 1, 2]. ``length`` defaults to a tenth of the seeds' extent."""
    _check_2d(den, "streamlines")
    x = torch.as_tensor(seeds, dtype=torch.float64)
    if length is None:
        ext = float((x.max(0).values - x.min(0).values).max()) if len(x) > 1 else 1.0
        length = 0.1 * max(ext, 1e-6)
    h = length / steps

    def fld(y):
        f = _field(den, y, float(t), kind)
        return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12) if normalise else f

    out = [x]
    with torch.no_grad():
        for _ in range(steps):
            k1 = fld(x)
            k2 = fld(x + 0.5 * h * k1)
            k3 = fld(x + 0.5 * h * k2)
            k4 = fld(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            out.append(x)
    return torch.stack(out, 1)


__all__ = ["Grid2D", "jacobian", "jacobian_asymmetry", "asymmetry_over_time", "AsymmetryCurve",
           "curl_2d", "fokker_planck_residual", "fokker_planck_residual_at", "FokkerPlanckCurve",
           "ode_sde_gap", "GapResult", "gaussian_departure", "GaussianDeparture", "density_grid",
           "density_evolution", "kde_log_density", "velocity_grid", "streamlines", "auto_limits",
           "marginal_points", "data_samples"]

"""Exact log-likelihood through the probability-flow ODE (instantaneous change of variables).

Along a solution x(t) of the PF-ODE dx/dt = u(x, t), the density obeys d/dt log p_t(x(t)) =
-div u(x(t), t) (Chen et al. 2018, "Neural ODEs"; Song et al. 2021, "Score-based generative
modeling through SDEs", appendix D.2). Integrating the augmented ODE

    d/dt [x, delta] = [u(x, t), div u(x, t)]        from t_min (data) to t_max (noise)

gives  log p_{t_min}(x) = log p_prior(x(t_max)) + delta(t_max).

* The divergence is exact (one backward pass per dimension, for low dimension) or Hutchinson's
  unbiased estimate E_e[e^T J e] with Rademacher or Gaussian probes e (Hutchinson 1989; Grathwohl
  et al. 2019, "FFJORD"), the probes drawn once per sample and kept fixed over the solve.
* The ODE is solved adaptively (Dormand-Prince 5(4), :mod:`studio.core.odeint`) in float64 with
  rtol/atol as settings. This is not a sampling solver: it integrates a different (augmented) ODE.
* Images: uniform dequantisation x' = x + Delta (u - 1/2), u ~ U[0, 1)^D, with Delta the spacing of
  the data's ``levels`` over ``data_range``; the reported NLL is -log p(x') - D log Delta (a
  one-sample upper bound on the discrete NLL, in nats) and bits/dim = NLL / (D ln 2).
* The prior is the sampler's N(0, prior_std^2 I) at t_max (the likelihood of the model that the
  samplers actually draw from), or with ``prior="exact"`` the analytic network's own log p_{t_max}
  (to isolate the ODE part when validating).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import Tensor

from .errors import ParamError, StudioError
from .model import Denoiser
from .odeint import dopri5
from .params import param

DIVERGENCES = ("auto", "exact", "hutchinson")


@dataclass
class LikelihoodSettings:
    """How the likelihood is computed (a plugin-style dataclass: the app renders it as a form)."""

    divergence: str = param("auto", "exact: autograd, one pass per dimension; hutchinson: "
                            "unbiased probe estimate; auto: exact up to exact_max_dim",
                            choices=DIVERGENCES)
    exact_max_dim: int = param(16, "largest dimension 'auto' computes the divergence exactly for",
                               min=1)
    probe: str = param("rademacher", "Hutchinson probe distribution",
                       choices=("rademacher", "gaussian"))
    probes: int = param(1, "Hutchinson probes per sample (fixed over the solve)", min=1)
    rtol: float = param(1e-5, "relative tolerance of the adaptive ODE solve", min=1e-13, max=1e-1)
    atol: float = param(1e-5, "absolute tolerance of the adaptive ODE solve", min=1e-13, max=1e-1)
    prior: str = param("standard", "standard: N(0, prior_std^2) at t_max, the samplers' prior; "
                       "exact: the analytic network's log p at t_max", choices=("standard", "exact"))
    dequantize: str = param("auto", "uniform dequantisation: auto (on for image data), none, uniform",
                            choices=("auto", "none", "uniform"))
    levels: int = param(256, "number of discrete levels of the data (dequantisation)", min=2)
    data_range: list[float] = param(default_factory=lambda: [-1.0, 1.0],
                                    doc="[lowest, highest] data level in the network's space")
    batch_size: int = param(256, "samples integrated together", min=1)
    seed: int = param(0, "seed of the probes and the dequantisation noise", min=-2 ** 63,
                      max=2 ** 63 - 1)

    def __post_init__(self):
        if len(self.data_range) != 2 or not self.data_range[0] < self.data_range[1]:
            raise ParamError("data_range must be [low, high] with low < high", "data_range")


@dataclass
class LikelihoodResult:
    """Per-sample results (numpy, float64)."""

    #: negative log-likelihood in nats (discrete upper bound when dequantised)
    nll: np.ndarray
    #: bits per dimension (None unless dequantised)
    bpd: Optional[np.ndarray]
    prior_logp: np.ndarray
    #: integral of the divergence from t_min to t_max
    delta_logp: np.ndarray
    nfe: int
    steps: int
    seconds: float
    dim: int
    method: str

    def summary(self) -> dict:
        n = len(self.nll)
        se = float(self.nll.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        out = {"samples": n, "nll_mean": float(self.nll.mean()), "nll_stderr": se,
               "nfe": self.nfe, "steps": self.steps, "seconds": self.seconds, "dim": self.dim,
               "method": self.method}
        if self.bpd is not None:
            out["bpd_mean"] = float(self.bpd.mean())
        return out


# -- divergence -------------------------------------------------------------------------------------
def divergence_exact(u: Tensor, x: Tensor) -> Tensor:
    """tr(du/dx) per sample by one backward pass per dimension; u, x [B, D] (x requires grad)."""
    div = torch.zeros(u.shape[0], dtype=u.dtype, device=u.device)
    for i in range(u.shape[1]):
        g = torch.autograd.grad(u[:, i].sum(), x, retain_graph=True)[0]
        div = div + g[:, i]
    return div


def divergence_hutchinson(u: Tensor, x: Tensor, probes: Tensor) -> Tensor:
    """mean_p e_p^T (du/dx) e_p per sample; probes [P, B, D]."""
    div = torch.zeros(u.shape[0], dtype=u.dtype, device=u.device)
    for e in probes:
        g = torch.autograd.grad((u * e).sum(), x, retain_graph=True)[0]
        div = div + (g * e).sum(1)
    return div / probes.shape[0]


def make_probes(kind: str, n: int, shape: tuple, generator: torch.Generator,
                dtype=torch.float64) -> Tensor:
    """``n`` probe vectors per sample, [n, *shape]: Rademacher (+-1) or standard Gaussian."""
    if kind == "rademacher":
        return (torch.randint(0, 2, (n,) + tuple(shape), generator=generator) * 2 - 1).to(dtype)
    if kind == "gaussian":
        return torch.randn((n,) + tuple(shape), generator=generator, dtype=dtype)
    raise ParamError(f"unknown probe {kind!r}; valid: rademacher, gaussian", "probe")


def velocity_and_divergence(den: Denoiser, x: Tensor, t: float, method: str,
                            probes: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The PF-ODE velocity at (x, t) and its divergence (exact or Hutchinson), x [B, *shape]."""
    b = x.shape[0]
    with torch.enable_grad():
        xf = x.reshape(b, -1).detach().requires_grad_(True)
        u = den(xf.reshape(x.shape), t).velocity.reshape(b, -1)
        if method == "exact":
            div = divergence_exact(u, xf)
        else:
            div = divergence_hutchinson(u, xf, probes)
    return u.detach().reshape(x.shape), div.detach()


# -- the likelihood -----------------------------------------------------------------------------------
def _prepare(x: Tensor, s: LikelihoodSettings, image: bool, g: torch.Generator,
             dtype) -> tuple[Tensor, float]:
    """Map uint8 levels to the data range and dequantise; returns (x', correction in nats/dim)."""
    lo, hi = s.data_range
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        x = lo + x.to(torch.float64) * (hi - lo) / (s.levels - 1)
    x = x.to(dtype)
    deq = s.dequantize == "uniform" or (s.dequantize == "auto" and image)
    if not deq:
        return x, 0.0
    delta = (hi - lo) / (s.levels - 1)
    if float(x.min()) < lo - 0.5 * delta or float(x.max()) > hi + 0.5 * delta:
        raise ParamError(f"data outside data_range {list(s.data_range)} (found "
                         f"[{float(x.min()):.4g}, {float(x.max()):.4g}]); set data_range", "data")
    u = torch.rand(x.shape, generator=g, dtype=torch.float64).to(dtype)
    return x + delta * (u - 0.5), -math.log(delta)


def log_likelihood(den: Denoiser, x: Tensor, settings: LikelihoodSettings | None = None, *,
                   labels: Tensor | None = None, device=None, cancel=None,
                   on_progress: Callable[[int, int, float], None] | None = None,
                   t_start: float | None = None, t_end: float | None = None) -> LikelihoodResult:
    """NLL of data ``x`` [N, *data_shape] under the model (network + process + guidance).

    ``labels`` [N] condition a class-conditional network per sample (None: the denoiser's own).

    ``on_progress(done, total, t_fraction)`` reports progress (samples finished so far, the total
    and how far the current batch's solve is); ``cancel`` is a CancelToken checked between steps.
    """
    s = settings or LikelihoodSettings()
    net, proc = den.network, den.process
    shape = tuple(net.data_shape)
    x = torch.as_tensor(x)
    if tuple(x.shape[1:]) != shape:
        raise ParamError(f"data items have shape {list(x.shape[1:])}, the network's data shape is "
                         f"{list(shape)}", "data")
    if x.shape[0] == 0:
        raise ParamError("no data samples", "data")
    dim = int(np.prod(shape))
    method = s.divergence
    if method == "auto":
        method = "exact" if dim <= s.exact_max_dim else "hutchinson"
    if s.prior == "exact" and not hasattr(net, "log_prob"):
        raise ParamError(f"prior 'exact' needs an analytic network with log_prob; {net.id!r} has "
                         "none", "prior")
    dtype = torch.float64 if net.default_dtype == torch.float64 else net.default_dtype
    image = len(shape) >= 2
    g = torch.Generator().manual_seed(int(s.seed))
    xq, deq_per_dim = _prepare(x, s, image, g, dtype)
    if not bool(torch.isfinite(xq).all()):
        raise ParamError("data holds NaN or Inf", "data")
    t0 = float(proc.t_min if t_start is None else t_start)
    t1 = float(proc.t_max if t_end is None else t_end)
    device = torch.device(device or "cpu")
    n = x.shape[0]
    if labels is not None:
        labels = torch.as_tensor(labels).reshape(-1).long()
        if labels.shape[0] != n:
            raise ParamError(f"{labels.shape[0]} labels for {n} data samples", "labels")
    prior_lp, delta_lp = np.zeros(n), np.zeros(n)
    nfe = steps = 0
    start = time.perf_counter()
    labels_before = den.labels
    for lo in range(0, n, s.batch_size):
        xb = xq[lo:lo + s.batch_size].to(device)
        b = xb.shape[0]
        if labels is not None:
            den.labels = labels[lo:lo + b].to(device)
        probes = (make_probes(s.probe, s.probes, (b, dim), g, dtype).to(device)
                  if method == "hutchinson" else None)
        counter = [0]

        def rhs(t: float, y: Tensor) -> Tensor:
            counter[0] += 1
            u, div = velocity_and_divergence(den, y[:, :dim].reshape((b,) + shape), t, method, probes)
            return torch.cat([u.reshape(b, dim), div[:, None].to(y.dtype)], 1)

        def step(t: float, y: Tensor) -> None:
            if on_progress is not None:
                on_progress(lo, n, (t - t0) / (t1 - t0))

        y0 = torch.cat([xb.reshape(b, dim), torch.zeros(b, 1, dtype=dtype, device=device)], 1)
        try:
            sol = dopri5(rhs, y0, t0, t1, rtol=s.rtol, atol=s.atol, cancel=cancel, on_step=step)
        finally:
            den.labels = labels_before
        nfe += counter[0]
        steps += sol.steps
        z = sol.y[:, :dim]
        if s.prior == "exact":
            with torch.no_grad():
                lp = net.log_prob(z.reshape((b,) + shape), t1, proc)
        else:
            sd = float(proc.prior_std)
            lp = (-0.5 * (z / sd).pow(2).sum(1) - dim * math.log(sd)
                  - 0.5 * dim * math.log(2 * math.pi))
        prior_lp[lo:lo + b] = lp.detach().cpu().double().numpy()
        delta_lp[lo:lo + b] = sol.y[:, dim].detach().cpu().double().numpy()
    if on_progress is not None:
        on_progress(n, n, 1.0)
    logp = prior_lp + delta_lp
    nll = -logp + dim * deq_per_dim
    deq = deq_per_dim != 0.0
    bpd = nll / (dim * math.log(2)) if deq else None
    how = (f"{method} divergence" + (f" ({s.probes} {s.probe} probe{'s' if s.probes > 1 else ''})"
                                     if method == "hutchinson" else "")
           + f", dopri5 rtol {s.rtol:g} atol {s.atol:g}, {s.prior} prior"
           + (", uniform dequantisation" if deq else ""))
    return LikelihoodResult(nll, bpd, prior_lp, delta_lp, nfe, steps,
                            time.perf_counter() - start, dim, how)


def log_density_grid(den: Denoiser, xlim, ylim, n: int = 48,
                     settings: LikelihoodSettings | None = None, **kw):
    """The model's log-density (-NLL through the PF-ODE) on an n x n grid of a 2-D model, for the
    heatmap beside the exact one (:func:`studio.core.diagnostics.density_grid` at t_min)."""
    from .diagnostics import Grid2D

    if tuple(den.network.data_shape) != (2,):
        raise ParamError(f"needs 2-D data; the network's data shape is "
                         f"{list(den.network.data_shape)}", "network")
    xs = np.linspace(float(xlim[0]), float(xlim[1]), int(n))
    ys = np.linspace(float(ylim[0]), float(ylim[1]), int(n))
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float64)
    s = settings or LikelihoodSettings(dequantize="none")
    res = log_likelihood(den, pts, s, **kw)
    return Grid2D(xs, ys, (-res.nll).reshape(n, n), float(den.process.t_min), res.method)


def pipeline_likelihood(built, x, settings: LikelihoodSettings | None = None,
                        branch: int = 0, **kw) -> LikelihoodResult:
    """:func:`log_likelihood` with a built pipeline's process, network and (branch's) guidance."""
    if not built.branches:
        raise StudioError("the pipeline has no solver branch", "pipeline")
    den = built.denoiser(built.branches[branch])
    kw.setdefault("device", built.device())
    return log_likelihood(den, x, settings, **kw)


__all__ = ["LikelihoodSettings", "LikelihoodResult", "log_likelihood", "pipeline_likelihood",
           "log_density_grid",
           "divergence_exact", "divergence_hutchinson", "make_probes", "velocity_and_divergence"]

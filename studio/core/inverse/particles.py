"""Sequential Monte Carlo for posterior sampling: the machinery shared by ``tds``, ``mcgdiff`` and
``fps``.

The batch is split into P = B / K independent populations of K particles. Every method is a
twisted particle filter over the solver's time grid t_0 > t_1 > ... > t_n (Doucet, de Freitas &
Gordon 2001; Naesseth, Lindsten & Schon 2019): with the unconditional reverse kernel
p(x_s | x_t), a potential g_t(x_t) (a stand-in for p(y | x_t)) and a proposal q(x_s | x_t),

    w_0 = g_{t_0}(x_{t_0})                       (x_{t_0} from the prior)
    w_i = w_{i-1} p(x_s | x_t) g_s(x_s) / (q(x_s | x_t) g_t(x_t)),   t = t_{i-1}, s = t_i

The weights telescope, so whatever the intermediate potentials, the weighted particles target
p_{t_n}(x) g_{t_n}(x) at the last grid time: with g_{t_n} = p(y | x) (up to the discretisation of
the last step) that is the posterior, and the methods are consistent as K -> infinity. A
population is resampled when its effective sample size ESS = 1 / sum_k wbar_k^2 (wbar the
normalised weights) falls below ``ess_threshold`` K, and always once at the end: the output of a
population is its K particles after that last resampling.

The reverse kernel is the ancestral (DDPM) one of the process x_t = alpha_t x0 + sigma_t eps,
whatever the solver node: its density is needed for the weights. It is DDIM's eta = 1 step:

    p(x_s | x_t) = N(alpha_s x0^ + sqrt(sigma_s^2 - c^2) eps^, c^2 I),
    c^2 = sigma_s^2 (1 - exp(-(lambda_s - lambda_t))),  lambda = log(alpha^2 / sigma^2),

x0^, eps^ the network's predictions at (x_t, t). The solver node supplies the time grid (its
schedule and step count); ``denoise_final`` returns the network's x0 at the last particle.

The weights are exact for that kernel, so the populations converge to the posterior of the
*discretised* chain, p_chain(x) g(x): the chain's first-order discretisation error survives any K.
``kernel = "2m"`` adds the second-order multistep term of the stochastic DPM-Solver++(2M) step
(:func:`multistep_correction`; the previous prediction travels with each particle as ``x0_prev``),
which leaves the kernel Gaussian with the same variance and shrinks that error.

``ParticleGuidance.log_evidence`` [P] keeps each population's log normalising-constant estimate
log Z^ (the log mean weight, accumulated over its resamplings; unbiased in Z^), up to a constant
shared by every run with the same operator, sigma_y and grid. ``resampling = "ordered"`` is
systematic resampling of the particles sorted along their population's leading principal axis
(:func:`ordered_indices`): unbiased, and a mode's share of offspring moves by at most one.

Resampling draws its uniforms from the run's seeded normal stream (u = Phi(z)), so a run is
reproducible from its seed. ``ParticleGuidance.trace`` keeps, per step, each population's ESS
(a fraction of K), whether it was resampled, and the normalised weights (what the app plots).

``ParticleGuidance.weighted`` keeps ``(x0 [B, ...], wbar [P, K])``: every particle's final x0 with
its final normalised weight, before the last resampling. Resampling adds noise and never removes
any: the weighted particles are the lower-variance estimate of the same target (Chopin 2004;
Doucet & Johansen 2009, section 3.5, "resampling ... should be performed after the estimate is
computed"). The output stays the resampled particles (the contract); the weighted estimate is what
a benchmark or an expectation should use beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import StudioError
from ..params import param
from .guidance import InverseGuidance, final_prediction

SCHEMES = ("systematic", "multinomial", "ordered")
KERNELS = ("ancestral", "2m")


def bdot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample inner products [B]."""
    return (a * b).reshape(a.shape[0], -1).sum(1)


def uniforms(ctx, shape, like: Tensor) -> Tensor:
    """U(0, 1) draws from the run's normal stream (u = Phi(z)), in float64."""
    z = ctx.randn_like(torch.zeros(shape, dtype=torch.float64, device=like.device))
    return (0.5 * torch.erfc(-z / math.sqrt(2.0))).clamp(0.0, 1.0 - 1e-12)


def normalised(logw: Tensor) -> Tensor:
    """Normalised weights per population: logw [P, K] -> w [P, K] summing to 1 along K."""
    return torch.softmax(logw.to(torch.float64), dim=-1)


def ess(logw: Tensor) -> Tensor:
    """Effective sample size 1 / sum w^2 per population [P] (between 1 and K)."""
    w = normalised(logw)
    return 1.0 / (w ** 2).sum(-1)


def resample_indices(logw: Tensor, scheme: str, u: Tensor) -> Tensor:
    """Ancestor indices [P, K] (within each population) for weights logw [P, K].

    ``multinomial``: K independent draws from the weights (u [P, K]). ``systematic`` (Kitagawa
    1996): one uniform per population, points (k + u) / K (u [P, 1]); lower variance.
    (``ordered`` is systematic after sorting the particles, in ``ParticleGuidance``.)"""
    w = normalised(logw)
    cdf = torch.cumsum(w, dim=-1)
    cdf[:, -1] = 1.0
    k = logw.shape[-1]
    if scheme == "systematic":
        pts = (torch.arange(k, dtype=torch.float64, device=logw.device)[None] + u[:, :1]) / k
    elif scheme == "multinomial":
        pts = u
    else:
        raise StudioError(f"unknown resampling scheme {scheme!r}; valid: {', '.join(SCHEMES)}",
                          "resampling")
    return torch.searchsorted(cdf, pts.contiguous()).clamp_max(k - 1)


def principal_order(x: Tensor, w: Tensor, iters: int = 8) -> Tensor:
    """Per population, the order [P, K] of its particles along the leading principal axis of their
    weighted spread (x [P, K, D], w [P, K] normalised; a few power iterations from the particle
    farthest from the weighted mean). For ``ordered`` resampling."""
    x = x.to(torch.float64)
    xc = x - (w[..., None] * x).sum(1, keepdim=True)
    far = (w * (xc ** 2).sum(-1)).argmax(1)
    v = xc[torch.arange(x.shape[0], device=x.device), far]
    for _ in range(iters):
        v = torch.einsum("pkd,pk->pd", xc, w * torch.einsum("pkd,pd->pk", xc, v))
        v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.argsort(torch.einsum("pkd,pd->pk", xc, v), dim=-1)


def ordered_indices(x: Tensor, logw: Tensor, u: Tensor) -> Tensor:
    """Ancestor indices [P, K] of ``ordered`` resampling: systematic resampling (u [P, 1]) of the
    particles x [P, K, D] sorted by :func:`principal_order`. Any order leaves systematic
    resampling unbiased (particle k gets K w_k offspring in expectation); in this one a cluster of
    neighbours (a mode) receives its weight's share of offspring to within one."""
    perm = principal_order(x, normalised(logw)).to(logw.device)
    return perm.gather(1, resample_indices(logw.gather(1, perm), "systematic", u))


def step_var(process, t, s) -> Tensor:
    """The ancestral kernel's variance c^2 = sigma_s^2 (1 - exp(-(lambda_s - lambda_t)))."""
    s_n = process.sigma(s)
    return s_n ** 2 * -torch.expm1(-(process.logsnr(s) - process.logsnr(t)))


def ancestral(process, x: Tensor, x0: Tensor, t, s) -> tuple[Tensor, Tensor]:
    """(mean, variance) of the ancestral kernel p(x_s | x_t) from the prediction x0 at (x, t)
    (DDIM eta = 1; the variance is a scalar tensor)."""
    a_t, s_t = process.alpha(t), process.sigma(t)
    a_n, s_n = process.alpha(s), process.sigma(s)
    h = process.logsnr(s) - process.logsnr(t)
    c = s_n * torch.sqrt(-torch.expm1(-h))
    eps = (x - a_t.to(x.dtype) * x0) / s_t.to(x.dtype)
    mean = a_n * x0 + torch.sqrt(s_n ** 2 - c ** 2) * eps
    return mean.to(x.dtype), (c ** 2).to(x.dtype)


def multistep_correction(process, x0: Tensor, x0_prev: Tensor, t_prev, t, s) -> Tensor:
    """The second-order term added to the ancestral kernel's mean by the ``2m`` kernel (the
    stochastic DPM-Solver++(2M) step, midpoint form; Lu et al. 2022): with the log-SNR steps
    H = lambda_s - lambda_t and H' = lambda_t - lambda_{t_prev}, r = H' / H,

        mean_2m = mean_ancestral + alpha_s (1 - exp(-H)) / (2 r) (x0^_t - x0^_{t_prev}),

    the kernel's variance unchanged. The prediction is extrapolated linearly in log-SNR over the
    step, so the chain's marginals err at second order in the step instead of first."""
    lt, ls, lp = process.logsnr(t), process.logsnr(s), process.logsnr(t_prev)
    h, h_prev = ls - lt, lt - lp
    beta = process.alpha(s) * -torch.expm1(-h) * h / (2.0 * h_prev)
    return (beta.to(x0.dtype) * (x0 - x0_prev)).to(x0.dtype)


@dataclass
class ParticleGuidance(InverseGuidance):
    """Base class of the particle samplers: populations, weights, ESS and resampling.

    Subclasses implement :meth:`begin` (state and log potential at t_0), :meth:`move` (one
    proposal step with its log incremental weight) and may override :meth:`final_x0`."""

    particles: int = param(100, "K: particles per population (the batch is split into "
                                "batch / K independent populations; batch must be a multiple "
                                "of K). K = 1: the method's base sampler", min=1)
    resampling: str = param("systematic", "resampling scheme: systematic, multinomial, or "
                                          "ordered (systematic along each population's leading "
                                          "principal axis: a mode's share moves by at most one "
                                          "particle)", choices=SCHEMES)
    ess_threshold: float = param(0.5, "resample a population when its effective sample size "
                                      "falls below this fraction of K (1: every step; 0: only "
                                      "at the end)", min=0.0, max=1.0)
    kernel: str = param("ancestral", "the reverse kernel of the filter's prior chain: ancestral "
                                     "(DDPM, first order; K = 1 is the base sampler) or 2m "
                                     "(second-order multistep, stochastic DPM-Solver++(2M): the "
                                     "target's discretisation bias falls much faster with the "
                                     "steps)", choices=KERNELS)

    # -- what subclasses implement -----------------------------------------------------------
    def begin(self, ctx, x: Tensor, ts: Tensor) -> dict[str, Tensor]:
        """Per-particle state at ts[0]; must hold ``logg`` [B] (the log potential)."""
        raise NotImplementedError

    def move(self, ctx, x: Tensor, state: dict, ts: Tensor, i: int
             ) -> tuple[Tensor, dict, Tensor, Tensor]:
        """One step ts[i] -> ts[i+1]: (x_s, state at x_s, log incremental weight [B], x0 used)."""
        raise NotImplementedError

    def final_x0(self, ctx, x: Tensor, state: dict, ts: Tensor) -> Tensor:
        """The x0 returned for the final particles (default: the network's at ts[-1])."""
        return ctx(x, ts[-1]).x0

    def prior_kernel(self, process, x: Tensor, x0: Tensor, state: dict, ts: Tensor, i: int
                     ) -> tuple[Tensor, Tensor, Tensor | float]:
        """(mean, variance, second-order term) of the filter's prior kernel p(x_s | x_t) for the
        step ts[i] -> ts[i+1], x0 the network's prediction at (x, ts[i]). The mean includes the
        term; it is 0 for the ``ancestral`` kernel and on the first step (no history: state
        without ``x0_prev``). A subclass keeps ``x0_prev`` (this x0) in its new state when
        ``self.kernel == "2m"`` (see :meth:`history`)."""
        mean, var = ancestral(process, x, x0, ts[i], ts[i + 1])
        corr: Tensor | float = 0.0
        if self.kernel == "2m" and i > 0 and "x0_prev" in state:
            corr = multistep_correction(process, x0, state["x0_prev"], ts[i - 1], ts[i], ts[i + 1])
            mean = (mean + corr).to(x.dtype)
        return mean, var, corr

    def history(self, new_state: dict, x0: Tensor) -> dict:
        """``new_state`` with the prediction x0 of this step kept for the next (``2m`` kernel)."""
        if self.kernel == "2m":
            new_state["x0_prev"] = x0.detach()
        return new_state

    # -- the filter -------------------------------------------------------------------------
    def _resample(self, ctx, x, state, logw, pops: Tensor | None):
        """Resample the populations flagged in ``pops`` [P] (all if None); reset their weights."""
        p, k = logw.shape
        u = uniforms(ctx, (p, k if self.resampling == "multinomial" else 1), x)
        if self.resampling == "ordered":
            # systematic resampling of the particles sorted along their population's leading
            # principal axis: still K w_k offspring in expectation, but neighbours (one mode)
            # share the uniform's error, so the mass of a region moves by at most one particle
            idx = ordered_indices(x.reshape(p, k, -1), logw, u)
        else:
            idx = resample_indices(logw, self.resampling, u)
        if pops is not None:
            keep = torch.arange(k, device=idx.device).expand(p, k)
            idx = torch.where(pops[:, None], idx, keep)
        flat = (idx + k * torch.arange(p, device=idx.device)[:, None]).reshape(-1)
        flat_x = flat.to(x.device)
        x = x[flat_x]
        state = {n: (v[flat_x] if isinstance(v, Tensor) and v.ndim and v.shape[0] == p * k else v)
                 for n, v in state.items()}
        reset = torch.ones(p, dtype=torch.bool, device=logw.device) if pops is None else pops
        logw = torch.where(reset[:, None], torch.zeros_like(logw), logw)
        return x, state, logw

    def drive(self, solver, ctx, x, ts):
        from ..solvers.base import Step
        b, k = x.shape[0], self.particles
        if b % k:
            raise StudioError(f"the batch ({b}) must be a multiple of particles ({k}): it is split "
                              f"into populations of {k}", f"guidance {self.id}.particles")
        p, n = b // k, len(ts) - 1
        self.trace: list[dict[str, Any]] = []
        with torch.no_grad():
            state = self.begin(ctx, x, ts)
        logw = state["logg"].detach().to(torch.float64).reshape(p, k)
        # log of each population's normalising-constant estimate Z^ (up to a constant shared by
        # all populations of the run): the log mean weight, accumulated at each resampling
        logz = torch.zeros(p, dtype=torch.float64, device=logw.device)
        for i in range(n):
            x_new, state, inc, x0 = self.move(ctx, x, state, ts, i)
            x = x_new.detach()
            inc = torch.nan_to_num(inc.detach().to(torch.float64), nan=-math.inf)
            logw = logw + inc.reshape(p, k)
            bad = torch.isinf(logw).all(-1) & (logw < 0).all(-1)
            if bool(bad.any()):
                logw = torch.where(bad[:, None], torch.zeros_like(logw), logw)
                logz = torch.where(bad, torch.full_like(logz, -math.inf), logz)
            e = ess(logw)
            w = normalised(logw)
            do = e < self.ess_threshold * k if i < n - 1 else torch.zeros(p, dtype=torch.bool)
            if k > 1 and bool(do.any()):
                logz = logz + torch.where(do, torch.logsumexp(logw, -1) - math.log(k),
                                          torch.zeros_like(logz))
                x, state, logw = self._resample(ctx, x, state, logw, do)
            self.trace.append({"i": i + 1, "t": float(ts[i + 1]), "ess": (e / k).cpu(),
                               "resampled": do.cpu(), "weights": w.cpu()})
            if i < n - 1:
                yield Step(i + 1, x, x0.detach())
        # the final x0 of every particle, kept with the final weights before the last resampling
        # (a resampling-free weighted estimate, reported beside the output), then the final
        # resampling of every population by its final weights; the x0 follow their particles
        with torch.no_grad():
            state = dict(state, x0_final=self.final_x0(ctx, x, state, ts).detach())
        self.weighted = (state["x0_final"], normalised(logw).detach())
        self.log_evidence = (logz + torch.logsumexp(logw, -1) - math.log(k)).detach()
        if k > 1:
            x, state, logw = self._resample(ctx, x, state, logw, None)
        x0_final = state["x0_final"]
        fin = final_prediction(ctx, x, ts[-1], x0_final) if solver.denoise_final else None
        yield Step(n, x, x0_final, final=fin)


def gaussian_move(ctx, op, mean: Tensor, var: Tensor, b: Tensor, r2, s2
                  ) -> tuple[Tensor, Tensor]:
    """Sample x ~ N(mean, var I) conditioned on b = A x + e, e ~ N(0, r2 A A^T + s2 I), and
    return (x, log predictive density of b up to a constant shared by all particles).

    Matheron's rule (a draw from the prior and a draw of the noise, corrected by the gain):
    x = x' + var A^T G^+ (b - A x' - e'), G = (var + r2) A A^T + s2 I, x' ~ N(mean, var I),
    e' ~ N(0, r2 A A^T + s2 I). The predictive is N(b; A mean, G)."""
    g_r2 = var + r2
    resid = op.measured(b - op.forward(mean))
    log_pred = -0.5 * bdot(resid, op.gram_solve(resid, g_r2, s2))
    xp = mean + torch.sqrt(var) * ctx.randn_like(mean)
    e = torch.zeros_like(b)
    if float(torch.as_tensor(r2).max()) > 0:
        e = e + torch.sqrt(torch.as_tensor(r2, dtype=mean.dtype)) * op.forward(ctx.randn_like(mean))
    if float(torch.as_tensor(s2).max()) > 0:
        e = e + torch.sqrt(torch.as_tensor(s2, dtype=mean.dtype)) * op.measured(ctx.randn_like(b))
    corr = op.adjoint(op.gram_solve(op.measured(b - op.forward(xp) - e), g_r2, s2))
    return (xp + var * corr).to(mean.dtype), log_pred


def log_potential(op, x: Tensor, b: Tensor, r2, s2) -> Tensor:
    """log N(b; A x, r2 A A^T + s2 I) up to a constant shared by all particles [B]."""
    resid = op.measured(b - op.forward(x))
    return -0.5 * bdot(resid, op.gram_solve(resid, r2, s2))


__all__ = ["ParticleGuidance", "SCHEMES", "KERNELS", "ess", "normalised", "resample_indices",
           "ancestral", "step_var", "principal_order", "ordered_indices", "multistep_correction",
           "gaussian_move", "log_potential", "uniforms", "bdot"]

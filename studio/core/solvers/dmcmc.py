"""Denoising MCMC (Kim & Ye 2022, "Denoising MCMC for Accelerating Diffusion-Based Generative
Models"): MCMC over the product space of data and noise level, then an ordinary integrator from the
reached (x, t) to the data.

**Target.** On a ladder of noise levels t_1 > ... > t_L (geometric in sigma_edm = sigma / alpha,
from ``sigma_max`` down to ``sigma_min``) the joint density on (x, t) is

    pi(x, t_k) = (1 / L) p_{t_k}(x),

whose x-conditional at t_k is the diffused data marginal p_{t_k}. The paper explores this product
space with Langevin moves on x (the score) and moves on t drawn from a noise-level classifier
p(t | x) = pi(x, t) / sum_k pi(x, t_k). Here both kinds of move are Metropolis-adjusted, so the chain
leaves pi EXACTLY invariant for any denoiser whose score is the gradient of log p_t; the only
approximations are the quadratures below (no noise-level classifier is needed).

**Replica form.** So that every output sample leaves the MCMC at the same time (one batched
integrator, a deterministic NFE count), the chain is run in its replica-exchange form: for each
output sample, L pairs (x_k, t_k), one at every level. An x-move updates every pair; a t-move
exchanges the noise levels of two pairs at adjacent levels a, b (even pairs on even iterations,
odd on odd), i.e. (x_a, t_a), (x_b, t_b) -> (x_a, t_b), (x_b, t_a), accepted with probability

    min(1, p_{t_a}(x_b) p_{t_b}(x_a) / (p_{t_a}(x_a) p_{t_b}(x_b))),

the ratio a noise-level classifier would give for the pair. The product of the L marginals is
invariant, so the pair at the lowest level t_L is an exact draw of p_{t_L} once the chain has mixed;
the high levels mix between modes quickly and hand their samples down.

**Time score from the denoiser.** Both ratios need log-density differences at ONE noise level
between two points, which are line integrals of the score s_t(x) = (alpha D(x, t) - x) / sigma^2:

    log p_t(y) - log p_t(x) = int_0^1 s_t(x + u (y - x)) . (y - x) du.

So the exchange exponent is int_0^1 (s_{t_a} - s_{t_b})(x_a + u d) . d du with d = x_b - x_a
(Gauss-Lobatto with ``quad`` nodes, both ends included, so the scores of exchanged points at their
new levels come with the test; both levels' scores at all nodes in one batched evaluation).
The x-move is MALA at each level with step eps_k = step_scale sigma(t_k)^2:

    x' = x + eps s(x) + sqrt(2 eps) z,
    log A = [log p(x') - log p(x)] - (|x - x' - eps s(x')|^2 - |x' - x - eps s(x)|^2) / (4 eps),

its log-density difference by Simpson's rule on the segment (scores at x, x' and the midpoint;
error O(|x' - x|^5), the score at x is the one kept from the previous move).

**Start and integrator.** The replicas start from the prior's noise (the given prior sample for the
top level, fresh noise below), scaled to each level's Gaussian scale sqrt(alpha^2 + sigma^2) (data of
unit scale); after ``mcmc_steps`` iterations (default: twice the integrator's ``steps``, so an nfe
budget is split 4 : 1 between the MCMC and the integrator) the pairs at t_L are integrated to the end of the
schedule by the ``integrator`` solver with ``steps`` steps on a Karras (rho = 7) grid in sigma_edm
from sigma_min to the schedule's last time.

Cost: 1 + 2 mcmc_steps evaluations (each batched over the L replicas; an exchange evaluates
2 quad points per pair) plus the integrator's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import ParamError
from ..params import param
from ..registry import SOLVERS
from .base import Solver, Step
from .restart import time_of_sigma_edm


def _solver_ids():
    return [s for s in SOLVERS.ids() if s != "dmcmc"]


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).flatten(1).sum(1)


@SOLVERS.register("dmcmc")
@dataclass
class DMCMC(Solver):
    """Denoising MCMC (Kim & Ye 2022): Metropolis-adjusted Langevin moves on x and noise-level
    exchanges on t over a ladder of noise levels, then an integrator from the lowest level."""

    title = "Denoising MCMC (product-space MCMC + integrator)"
    order = 1
    stochastic = True
    integrator: str = param("dpm-solver++-2m", "solver from the lowest MCMC level to the data",
                            choices=_solver_ids)
    mcmc_steps: Optional[int] = param(None, "MCMC iterations, 2 evaluations each (default: twice "
                                      "the integrator's steps)", min=0)
    levels: int = param(6, "noise levels of the ladder (L)", min=2, max=64)
    sigma_max: float = param(5.0, "highest ladder level (sigma / alpha)", min=1e-6)
    sigma_min: float = param(0.5, "lowest ladder level (sigma / alpha), where the integrator starts",
                             min=1e-6)
    step_scale: float = param(0.3, "Langevin step / sigma(t)^2 at each level", min=1e-6, max=2.0)
    quad: int = param(8, "Gauss-Lobatto nodes of a noise-level exchange's line integral", min=2,
                      max=32)

    def __post_init__(self):
        super().__post_init__()
        if not self.sigma_min < self.sigma_max:
            raise ParamError(f"sigma_min ({self.sigma_min}) must be below sigma_max "
                             f"({self.sigma_max})", "sigma_min")
        cls = SOLVERS.get(self.integrator, "integrator")
        if cls.adaptive or cls.id == "dmcmc":
            raise ParamError(f"the integrator must be a fixed-step solver, not {self.integrator!r}",
                             "integrator")

    def sub_solver(self, steps: int) -> Solver:
        return SOLVERS.get(self.integrator)(steps=steps, denoise_final=self.denoise_final)

    def iterations(self, steps: int) -> int:
        return 2 * steps if self.mcmc_steps is None else self.mcmc_steps

    def is_stochastic(self) -> bool:
        return self.mcmc_steps != 0 or self.sub_solver(1).is_stochastic()

    def nfe_for_steps(self, steps: int) -> int:
        m = self.iterations(steps)
        return (1 + 2 * m if m > 0 else 0) + self.sub_solver(steps).nfe_for_steps(steps)

    # -- the ladder and the integrator's grid -----------------------------------------------------
    def ladder(self, p, ts) -> Tensor:
        lo, hi = float(ts[-1]), float(ts[0])
        sig = np.geomspace(self.sigma_max, self.sigma_min, self.levels)
        return torch.stack([time_of_sigma_edm(p, float(s), lo, hi) for s in sig])

    def integrator_grid(self, p, t_start, ts) -> Tensor:
        n = len(ts) - 1
        s_hi, s_lo = float(p.sigma_edm(t_start)), float(p.sigma_edm(ts[-1]))
        r = 1.0 / 7.0
        sig = [(s_hi ** r + i / n * (s_lo ** r - s_hi ** r)) ** 7.0 for i in range(n + 1)]
        lo, hi = float(ts[-1]), float(t_start)
        inner = [time_of_sigma_edm(p, s, lo, hi) for s in sig[1:-1]]
        return torch.stack([torch.as_tensor(t_start, dtype=torch.float64)] + inner
                           + [torch.as_tensor(ts[-1], dtype=torch.float64)])

    # -- sampling ----------------------------------------------------------------------------------
    def sample(self, ctx, x, ts):
        grid = ts  # mcmc_steps = 0: the integrator alone, from the prior on the schedule's grid
        m = self.iterations(len(ts) - 1)
        if m > 0:
            lad = self.ladder(ctx.process, ts)
            x = self.mcmc(ctx, x, lad, m)
            grid = self.integrator_grid(ctx.process, lad[-1], ts)
        for step in self.sub_solver(len(ts) - 1).sample(ctx, x, grid):
            if step.t is None:
                step.t = float(grid[step.i])
            yield step

    def mcmc(self, ctx, x: Tensor, lad: Tensor, iterations: int) -> Tensor:
        """The replica-exchange chain; returns the replicas at the lowest level."""
        p = ctx.process
        L, B = len(lad), x.shape[0]
        dt = x.dtype
        a, s = p.alpha(lad), p.sigma(lad)
        shape = (L,) + (1,) * x.ndim
        scale = torch.sqrt(a * a + s * s).to(dt).reshape(shape)
        z0 = x / float(p.prior_std)
        zs = torch.stack([z0] + [ctx.randn_like(x) for _ in range(L - 1)])
        X = scale * zs                                              # [L, B, ...]
        tt = lad.repeat_interleave(B)                              # per-sample times [L B]
        eps = (self.step_scale * s * s).to(dt).reshape(shape)

        def score(xs: Tensor, times: Tensor) -> Tensor:
            return ctx(xs, times).score

        S = score(X.flatten(0, 1), tt).reshape(X.shape)
        u, w = lobatto(self.quad)
        u = torch.as_tensor(u, dtype=dt)
        w = torch.as_tensor(w, dtype=dt)
        for it in range(iterations):
            # x-move: MALA at every level (scores at x' and the midpoint in one evaluation)
            Y = X + eps * S + torch.sqrt(2.0 * eps) * ctx.randn_like(X)
            both = score(torch.cat([Y.flatten(0, 1), (0.5 * (X + Y)).flatten(0, 1)]),
                         torch.cat([tt, tt])).reshape((2,) + X.shape)
            SY, SM = both[0], both[1]
            dlogp = _dot(((S + 4.0 * SM + SY) / 6.0).flatten(0, 1), (Y - X).flatten(0, 1))
            fwd = (Y - X - eps * S).flatten(0, 1)
            bwd = (X - Y - eps * SY).flatten(0, 1)
            e = eps.reshape(L, 1).expand(L, B).flatten()
            log_acc = dlogp - (_dot(bwd, bwd) - _dot(fwd, fwd)) / (4.0 * e)
            ok = self._accept(ctx, log_acc).reshape((L, B) + (1,) * (x.ndim - 1))
            X = torch.where(ok, Y, X)
            S = torch.where(ok, SY, S)
            # t-move: exchange the levels of adjacent pairs (k, k + 1), k = it mod 2, 2, ...
            ka = torch.arange(it % 2 if L > 2 else 0, L - 1, 2)
            kb = ka + 1
            X, S = self.exchange(ctx, X, S, lad, ka, kb, u, w)
        return X[-1]

    def exchange(self, ctx, X, S, lad, ka, kb, u, w):
        """Noise-level exchanges between the pairs at levels ka and kb = ka + 1. The Lobatto nodes
        include both ends of each segment, so the scores of the swapped points at their new levels
        come with the acceptance test."""
        Xa, Xb = X[ka], X[kb]                                       # [P, B, ...]
        log_swap, sc = self.swap_log_ratio(ctx, Xa, Xb, lad[ka], lad[kb], u, w)
        sw = self._accept(ctx, log_swap.flatten()).reshape(log_swap.shape
                                                             + (1,) * (X.ndim - 2))
        X, S = X.clone(), S.clone()
        X[ka], X[kb] = torch.where(sw, Xb, Xa), torch.where(sw, Xa, Xb)
        # swapped: x_b now at level a (node u = 1 of level a), x_a at level b (node u = 0 of b)
        S[ka] = torch.where(sw, sc[0, -1], S[ka])
        S[kb] = torch.where(sw, sc[1, 0], S[kb])
        return X, S

    @staticmethod
    def swap_log_ratio(ctx, Xa, Xb, ta, tb, u, w):
        """log [p_a(x_b) p_b(x_a) / (p_a(x_a) p_b(x_b))] for pairs Xa, Xb [P, B, ...] at levels
        ta, tb [P] = int_0^1 (s_a - s_b)(x_a + u d) . d du, d = x_b - x_a, on the nodes u
        (weights w); returns it [P, B] and the scores [2 (level a, b), Q, P, B, ...]."""
        B, Q = Xa.shape[1], len(u)
        D = Xb - Xa
        nodes = Xa[None] + u.reshape((-1,) + (1,) * Xa.ndim) * D[None]   # [Q, P, B, ...]
        pts = nodes.flatten(0, 2)
        times = torch.cat([ta.repeat_interleave(B).repeat(Q), tb.repeat_interleave(B).repeat(Q)])
        sc = ctx(torch.cat([pts, pts]), times).score.reshape((2, Q) + D.shape)
        inner = ((sc[0] - sc[1]) * D[None]).flatten(3).sum(-1)     # [Q, P, B]
        return (w.reshape(-1, 1, 1) * inner).sum(0), sc

    @staticmethod
    def _accept(ctx, log_ratio: Tensor) -> Tensor:
        """Metropolis test: log U < log_ratio with U = Phi(z) uniform from the run's normal noise."""
        z = ctx.randn_like(log_ratio)
        log_u = torch.log(torch.special.ndtr(z.to(torch.float64)).clamp_min(1e-300))
        return log_u < log_ratio.to(torch.float64)


def lobatto(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Lobatto nodes and weights on [0, 1] with n >= 2 points, both ends included (exact for
    polynomials of degree 2 n - 3)."""
    if n == 2:
        return np.array([0.0, 1.0]), np.array([0.5, 0.5])
    leg = np.polynomial.legendre.Legendre.basis(n - 1)
    x = np.concatenate([[-1.0], np.sort(leg.deriv().roots().real), [1.0]])
    w = 2.0 / (n * (n - 1) * leg(x) ** 2)
    return 0.5 * (x + 1.0), 0.5 * w

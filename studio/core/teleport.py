"""Analytic teleportation (Wang & Vastola 2024, "The Unreasonable Effectiveness of Gaussian Score
Approximation for Diffusion Models and its Applications"): a start option for any solver,
``run.start = {"kind": "teleport", "t": T}``.

Early in sampling (large noise) the marginal p_t of any data distribution is close to that of the
Gaussian N(mu, Sigma) with the data's mean and covariance, whose probability-flow ODE has a closed
form: in the eigenbasis Sigma = U diag(l) U^T,

    x_t = alpha_t mu + U diag( sqrt((alpha_t^2 l + sigma_t^2) / (alpha_s^2 l + sigma_s^2)) ) U^T
          (x_s - alpha_s mu).

Teleportation maps the prior sample from the first grid time to T with it, at no network
evaluation, and the solver runs from T on its grid's remaining points (the evaluations above T are
saved). The moments come from the network: exact for ``gaussian``, ``gmm`` and ``empirical``
networks; for any other network (a model file) they are measured from the model itself at T: for
Gaussian data E[x0 | x_T] = mu + alpha Sigma (alpha^2 Sigma + sigma^2 I)^-1 (x_T - alpha mu) is
affine, so a least-squares affine fit of the network's x0-prediction on ``probe`` points x_T gives
B = alpha Sigma (alpha^2 Sigma + sigma^2)^-1 and a = (I - alpha B) mu, hence
Sigma = sigma^2 (alpha (I - alpha B))^-1 B and mu = (I - alpha B)^-1 a (symmetrised, clipped PSD).
Those probe evaluations are made once per run, outside the run's NFE count. Moments are of the
unconditional model (labels and guidance are not used).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .errors import PipelineError
from .processes.base import as_time
from .start import cut_grid, register_start


def data_moments(network) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean [D], covariance [D, D]) of an analytic network's data; None for other networks."""
    kind = getattr(network, "id", "")
    if kind == "gaussian":
        lam, u = network._lam, network._u
        return np.asarray(network._mu, dtype=np.float64), (u * lam) @ u.T
    if kind == "gmm":
        w = np.exp(network._logw)
        m = network._m
        covs = network.covariance_matrices()
        mu = w @ m
        second = np.einsum("k,kij->ij", w, covs) + np.einsum("k,ki,kj->ij", w, m, m)
        return mu, second - np.outer(mu, mu)
    if kind == "empirical":
        flat = np.asarray(network.points, dtype=np.float64).reshape(len(network.points), -1)
        if len(flat) < 2:
            return flat.mean(0), np.zeros((flat.shape[1], flat.shape[1]))
        return flat.mean(0), np.atleast_2d(np.cov(flat, rowvar=False, bias=True))
    return None


def measured_moments(network, process, t: float, probe: int, seed: int = 0):
    """Mean and covariance read off the network's x0-prediction at time t (module docstring)."""
    d = int(np.prod(network.data_shape))
    n = max(probe, 2 * d + 2)
    tt = as_time(t)
    a, s = float(process.alpha(tt)), float(process.sigma(tt))
    if a <= 0:
        raise PipelineError("teleport time is where alpha = 0 (pure noise): nothing to measure",
                            "run.start.t")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n,) + tuple(network.data_shape), generator=g, dtype=torch.float64)
    x = x * (a * a + s * s) ** 0.5
    from .model import Denoiser
    den = Denoiser(network, process)
    x0 = torch.cat([den(x[i:i + 512], tt).x0 for i in range(0, n, 512)]).reshape(n, d)
    X = torch.cat([torch.ones(n, 1, dtype=torch.float64), x.reshape(n, d)], 1).numpy()
    coef, *_ = np.linalg.lstsq(X, x0.numpy(), rcond=None)
    a_vec, B = coef[0], coef[1:].T
    B = 0.5 * (B + B.T)
    eye = np.eye(d)
    inv = np.linalg.inv(eye - a * B)
    cov = (s * s / a) * inv @ B
    cov = 0.5 * (cov + cov.T)
    lam, u = np.linalg.eigh(cov)
    cov = (u * np.clip(lam, 0.0, None)) @ u.T
    return inv @ a_vec, cov


def gaussian_flow(x: Tensor, mean: np.ndarray, cov: np.ndarray, process, t_from, t_to) -> Tensor:
    """The closed-form PF-ODE map of N(mean, cov) data from t_from to t_to (x [B, ...])."""
    from .networks.gaussian import Gaussian
    g = Gaussian(mean=list(map(float, mean)), cov=np.asarray(cov).tolist())
    flat = x.reshape(len(x), -1).to(torch.float64)
    return g.ode_solution(flat, t_from, t_to, process).reshape(x.shape)


@register_start("teleport")
@dataclass
class Teleport:
    """Jump from the prior to time t with the closed-form Gaussian PF-ODE of the data's moments."""

    t: float
    probe: int = 2048
    where: str = "run.start"
    kind = "teleport"

    @classmethod
    def parse(cls, raw: dict, where: str) -> "Teleport":
        unknown = sorted(set(raw) - {"kind", "t", "probe"})
        if unknown:
            raise PipelineError(f"unknown key {unknown[0]!r}; valid: kind, t, probe", where)
        t = raw.get("t")
        if not isinstance(t, (int, float)) or isinstance(t, bool):
            raise PipelineError(f"t must be a number (a time of the pipeline's process), got {t!r}",
                                f"{where}.t")
        probe = raw.get("probe", 2048)
        if not isinstance(probe, int) or isinstance(probe, bool) or probe < 1:
            raise PipelineError(f"probe must be a positive integer, got {probe!r}",
                                f"{where}.probe")
        return cls(float(t), probe, where)

    def moments(self, network, process):
        exact = data_moments(network)
        return exact if exact is not None else measured_moments(network, process, self.t,
                                                                self.probe)

    def prepare(self, built, z: Tensor, ts: Tensor) -> tuple[Tensor, Tensor]:
        p = built.process
        if not p.t_min <= self.t <= p.t_max:
            raise PipelineError(f"t = {self.t:g} is outside the process's times "
                                f"[{p.t_min:g}, {p.t_max:g}]", f"{self.where}.t")
        if self.t > float(ts[0]):
            raise PipelineError(f"t = {self.t:g} is above the solver's first time "
                                f"{float(ts[0]):g}: teleportation only jumps forward in sampling",
                                f"{self.where}.t")
        grid = cut_grid(ts, self.t, self.where)
        mean, cov = self.moments(built.network, p)
        x_T = p.prior_std * z.to(torch.float64)
        return gaussian_flow(x_T, mean, cov, p, ts[0], self.t), grid


__all__ = ["Teleport", "data_moments", "measured_moments", "gaussian_flow"]

"""PFGM++ (Xu, Liu, Tian, Tong, Tegmark & Jaakkola 2023, "PFGM++: Unlocking the Potential of
Physics-Inspired Generative Models").

Data in N dimensions are augmented with D extra dimensions; the electric field of the data, seen
from radius r in the augmented space, defines the perturbation kernel

    p_r(x | y) ∝ (||x - y||^2 + r^2)^{-(N + D)/2},        r = sigma sqrt(D),

heavy-tailed for small D and Gaussian N(y, sigma^2 I) as D -> inf (EDM, with alpha = 1 and
sigma = t). Samples of the kernel: x = y + sigma sqrt(D) z_N / ||z_D|| (z_N, z_D standard normal
in N and D dimensions: R^2 / r^2 = chi2_N / chi2_D is the beta-prime law of the paper). The prior at
sigma_max is the kernel around 0 (the data's scale is negligible there). The sampling ODE is
dx / dsigma = (x - E[y | x]) / sigma with the posterior mean under this kernel, i.e. EDM's ODE
with the PFGM++ denoiser, so every ODE solver of the studio runs it unchanged (alpha = 1,
sigma = t); the stochastic solvers assume Gaussian transitions and are only right as D -> inf.
The ``empirical`` network is exact under this kernel (its weights come from :meth:`log_kernel`);
``gmm`` and ``gaussian`` networks compute the Gaussian (D -> inf) posterior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..params import param
from ..registry import PROCESSES
from .base import _bcast, as_time
from .edm import EDM


def chi2(shape: tuple, dof: float, generator: torch.Generator | None) -> Tensor:
    """Chi-square samples with ``dof`` degrees of freedom (exact, numpy's sampler seeded from the
    torch generator, or from torch's global generator when None)."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    return torch.as_tensor(np.random.default_rng(seed).chisquare(dof, size=shape),
                           dtype=torch.float64)


@PROCESSES.register("pfgm++")
@dataclass
class PFGMPP(EDM):
    """PFGM++ with augmentation dimension D: the EDM schedule (alpha = 1, sigma = t) with the
    heavy-tailed kernel (||x - y||^2 + sigma^2 D)^{-(N + D)/2}."""

    title = "PFGM++, augmentation dimension D (Xu et al. 2023)"
    D: float = param(128.0, "augmentation dimension D (r = sigma sqrt(D)); D -> inf is EDM",
                     min=1.0)

    def log_kernel(self, d2: Tensor, sigma: Tensor, n: int) -> Tensor:
        """log p_r(x | y) up to a constant in y, from d2 = ||x - y||^2 (the ``empirical`` network's
        weights)."""
        r2 = sigma * sigma * self.D
        return -0.5 * (n + self.D) * torch.log1p(d2 / r2)

    def _radial(self, shape: tuple, like: Tensor, generator) -> Tensor:
        """sqrt(D / chi2_D) per sample, shaped to broadcast against ``like``."""
        c = chi2((shape[0],), self.D, generator).to(device=like.device, dtype=like.dtype)
        return _bcast(torch.sqrt(self.D / c), like)

    def marginal_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x = x0 + sigma sqrt(D) noise / ||z_D|| (the extra chi-square from torch's generator)."""
        t = as_time(t, x0)
        s = _bcast(self.sigma(t), x0).to(x0.dtype)
        return x0 + s * self._radial(tuple(x0.shape), x0, None) * noise

    def prior_sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.sigma_max * self._radial(tuple(z.shape), z, generator) * z

    def describe(self) -> dict:
        out = super().describe()
        out["kernel"] = "(|x - y|^2 + sigma^2 D)^(-(N + D)/2)"
        return out


__all__ = ["PFGMPP", "chi2", "math"]

"""Stochastic interpolants (Albergo, Boffi & Vanden-Eijnden 2023, "Stochastic Interpolants: A
Unifying Framework for Flows and Diffusions").

    x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z,        t in [t_min, 1],

between data x0 (t = 0) and the base x1 (t = 1), with a latent z ~ N(0, I) independent of both.
Here the base is Gaussian, x1 ~ N(0, I), as everywhere in the studio, so beta x1 + gamma z is one
Gaussian and the interpolant is the affine process alpha(t), sigma(t) = sqrt(beta^2 + gamma^2):
every network, parameterization and solver works with it. The coefficients come from a menu:

    alpha:  linear 1 - t | trig cos(pi t / 2) | square (1 - t)^2
    beta:   linear t     | trig sin(pi t / 2) | square t^2
    gamma:  none 0       | sin2 a sin^2(pi t) | bump 4 a t (1 - t)     (a = gamma_scale)

(alpha(1) = 0, beta(1) = 1, gamma(0) = gamma(1) = 0; the combination must make alpha / sigma
decrease, which is checked.) The generative SDE family of the paper, for any diffusion
epsilon(t) >= 0,

    dx = [u(t, x) - epsilon(t) score(t, x)] dt + sqrt(2 epsilon(t)) dW_bar     (t decreasing)

(u the probability-flow velocity) has the interpolant's marginals for every epsilon; epsilon = 0 is
the ODE. ``epsilon`` below gives it; the ``euler-maruyama`` solver (and ``pc``'s euler-maruyama
predictor) integrate this family on an interpolant process, any ODE solver the epsilon = 0 member.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ParamError
from ..params import param
from ..registry import PROCESSES
from .base import Process, as_time

HALF_PI = 0.5 * math.pi

#: name -> (f(t), f'(t)) for alpha, beta, gamma (gamma before its scale)
ALPHAS = {"linear": (lambda t: 1.0 - t, lambda t: -torch.ones_like(t)),
          "trig": (lambda t: torch.cos(HALF_PI * t), lambda t: -HALF_PI * torch.sin(HALF_PI * t)),
          "square": (lambda t: (1.0 - t) ** 2, lambda t: -2.0 * (1.0 - t))}
BETAS = {"linear": (lambda t: t.clone(), lambda t: torch.ones_like(t)),
         "trig": (lambda t: torch.sin(HALF_PI * t), lambda t: HALF_PI * torch.cos(HALF_PI * t)),
         "square": (lambda t: t * t, lambda t: 2.0 * t)}
GAMMAS = {"none": (lambda t: torch.zeros_like(t), lambda t: torch.zeros_like(t)),
          "sin2": (lambda t: torch.sin(math.pi * t) ** 2,
                   lambda t: math.pi * torch.sin(2.0 * math.pi * t)),
          "bump": (lambda t: 4.0 * t * (1.0 - t), lambda t: 4.0 - 8.0 * t)}


@PROCESSES.register("interpolant")
@dataclass
class Interpolant(Process):
    """x_t = alpha(t) x0 + beta(t) x1 + gamma(t) z with coefficient functions from a menu, and the
    marginal-preserving SDE family with diffusion epsilon(t)."""

    title = "Stochastic interpolant (Albergo et al. 2023)"
    alpha_fn: str = param("trig", "alpha(t), the data coefficient", choices=tuple(ALPHAS))
    beta_fn: str = param("trig", "beta(t), the base (noise) coefficient", choices=tuple(BETAS))
    gamma_fn: str = param("none", "gamma(t), the latent-noise coefficient", choices=tuple(GAMMAS))
    gamma_scale: float = param(0.5, "a: the size of gamma", min=0.0)
    epsilon_scale: float = param(0.0, "e: the SDE family's diffusion size (0 = the ODE)", min=0.0)
    epsilon_fn: str = param("sigma2", "epsilon(t): constant e, e sigma(t)^2 or e 4 t (1 - t)",
                            choices=("constant", "sigma2", "bump"))
    t_min: float = param(1e-3, "smallest time (data end)", min=0.0, max=1.0)
    t_max: float = param(1.0, "largest time (noise end)", min=0.0, max=1.0)

    def __post_init__(self):
        super().__post_init__()
        t = torch.linspace(self.t_min, self.t_max, 2001, dtype=torch.float64)
        lam = self.logsnr(t)
        if not bool(torch.all(lam[1:] < lam[:-1])):
            raise ParamError(f"alpha {self.alpha_fn!r}, beta {self.beta_fn!r} and gamma "
                             f"{self.gamma_fn!r} x {self.gamma_scale:g} do not make alpha/sigma "
                             "decrease over [t_min, t_max]: lower gamma_scale", "gamma_scale")

    def _g(self, t):
        f, df = GAMMAS[self.gamma_fn]
        return self.gamma_scale * f(t), self.gamma_scale * df(t)

    def alpha(self, t):
        return ALPHAS[self.alpha_fn][0](as_time(t))

    def dalpha(self, t):
        return ALPHAS[self.alpha_fn][1](as_time(t))

    def beta(self, t):
        return BETAS[self.beta_fn][0](as_time(t))

    def gamma(self, t):
        return self._g(as_time(t))[0]

    def sigma(self, t):
        t = as_time(t)
        g = self._g(t)[0]
        b = BETAS[self.beta_fn][0](t)
        return torch.sqrt(b * b + g * g)

    def dsigma(self, t):
        t = as_time(t)
        g, dg = self._g(t)
        b, db = BETAS[self.beta_fn][0](t), BETAS[self.beta_fn][1](t)
        return (b * db + g * dg) / torch.sqrt(b * b + g * g)

    def epsilon(self, t):
        """The SDE family's diffusion epsilon(t) (see the module docstring)."""
        t = as_time(t)
        if self.epsilon_fn == "constant":
            return torch.full_like(t, self.epsilon_scale)
        if self.epsilon_fn == "bump":
            return self.epsilon_scale * 4.0 * t * (1.0 - t)
        s = self.sigma(t)
        return self.epsilon_scale * s * s

    def interpolate(self, x0, x1, z, t):
        """The interpolant itself, x_t = alpha x0 + beta x1 + gamma z, for a scalar t."""
        t = as_time(t)
        return self.alpha(t) * x0 + self.beta(t) * x1 + self.gamma(t) * z

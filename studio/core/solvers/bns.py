"""Bespoke non-stationary solvers (Shaul, Singer, Gat, Ben-Hamu, Lipman, Chen, Karrer 2024,
"Bespoke Non-Stationary Solvers for Fast Sampling of Diffusion and Flow Models", ICML 2024).

A non-stationary (NS) solver takes every step with coefficients of its own over the whole history
of states and predictions:

    x_{i+1} = sum_{j <= i} a_ij x_j + sum_{j <= i} b_ij D_j,        D_j = D(x_j, t_j),

and, with ``denoise_final``, returns x_out = sum_{j <= n} (a_nj x_j + b_nj D_j) (D_n evaluated at
t_n = t_min: the final denoise's evaluation). The paper writes the history in the flow's states
and velocities; states and data predictions span the same space (u_j is a combination of x_j and
D_j). Every linear multistep method is an NS solver on its grid; the family is initialised at
iPNDM (Zhang & Chen 2023; Adams-Bashforth on eps_j = (x_j - alpha_j D_j) / sigma_j in
x / alpha and sigma_edm, the first step Euler), whose NS coefficients are

    x_{i+1} = (alpha_{i+1} / alpha_i) x_i + g_i sum_m w_m eps_{i-m},
    g_i = alpha_{i+1} (sigma_edm_{i+1} - sigma_edm_i),

with w the equal-step Adams-Bashforth weights of order min(i + 1, 4), and x_out = D_n. As in the
paper the grid t_i and the coefficients are fitted together to the endpoints of exact solves from
a small set of prior samples (RMSE; the paper fits the PSNR of images), by gradient descent through
the solve (here L-BFGS, see :mod:`studio.core.solvers._fitted`).

With ``predictor: true`` the coefficients of each step's newest state and data prediction are
per sample, a_ii + w_i . phi and b_ii + v_i . phi, with phi the features of the step's own
evaluations that AMED's predictor reads (:func:`studio.core.solvers._fitted.features`); the heads
are fitted after, and starting from, the constant solver's fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import Prediction
from ..params import param
from ..registry import SOLVERS
from ..processes.base import as_time
from ._common import AB_WEIGHTS
from ._fitted import FEATURES, HEAD_SCALE, FittedSolver, PerSampleHeads, column
from .base import Step


@SOLVERS.register("bns")
@dataclass
class BespokeNS(PerSampleHeads, FittedSolver):
    """Bespoke non-stationary solver: per-step coefficients over all earlier states and data
    predictions, fitted to the model with the grid (Shaul et al. 2024); unfitted it is iPNDM."""

    title = "Bespoke non-stationary solver (fitted; Shaul et al. 2024)"
    paper = ("Shaul et al. 2024, Bespoke Non-Stationary Solvers for Fast Sampling of Diffusion "
             "and Flow Models")
    order = 2
    base = ("ipndm", {})

    final_eval: bool = param(True, "with denoise_final: evaluate the network at the last time "
                             "point and fit the output over it too (off: the output is the last "
                             "step's combination, which the fit aims at the denoised endpoint, and "
                             "the budget buys one more step; unfitted it is ipndm without the "
                             "final denoise)")

    predictor: bool = param(False, "per-sample step coefficients: the newest state's and data "
                            "prediction's coefficients of each step get a linear head on features "
                            "of the step's evaluations (as amed's predictor), fitted from the "
                            "constant fit")

    def _output_eval(self) -> bool:
        return self.denoise_final and self.final_eval

    def nfe_for_steps(self, steps: int) -> int:
        return steps + (1 if self._output_eval() else 0)

    def base_params(self) -> tuple:
        return self.base[0], {**self.base[1], "denoise_final": self._output_eval()}

    def _n_constant(self, n):
        return n * (n + 1) + (2 * (n + 1) if self._output_eval() else 0)

    def n_coefficients(self, n):
        return self._n_constant(n) + self.n_heads(n)

    def base_coefficients(self, process, ts):
        alpha, sigma = process.alpha(ts), process.sigma(ts)
        n, out = len(ts) - 1, []
        zero = torch.zeros((), dtype=torch.float64)
        for i in range(n):
            ax, bd = [zero] * (i + 1), [zero] * (i + 1)
            if i == 0:  # Euler: x_1 = alpha_1 D_0 + sigma_1 eps_0
                ax[0] = sigma[1] / sigma[0]
                bd[0] = alpha[1] - sigma[1] * alpha[0] / sigma[0]
            else:
                g = alpha[i + 1] * (sigma[i + 1] / alpha[i + 1] - sigma[i] / alpha[i])
                ax[i] = alpha[i + 1] / alpha[i]
                for m, w in enumerate(AB_WEIGHTS[min(i + 1, 4)]):
                    j = i - m
                    ax[j] = ax[j] + g * w / sigma[j]
                    bd[j] = bd[j] - g * w * alpha[j] / sigma[j]
            out += ax + bd
        if self._output_eval():
            out += [zero] * (2 * n + 1) + [torch.ones((), dtype=torch.float64)]
        out += [zero] * self.n_heads(n)
        return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in out])

    def coefficient_scale(self, process, ts):
        alpha, sigma = process.alpha(ts), process.sigma(ts)
        size = torch.sqrt(alpha ** 2 + sigma ** 2)
        n, out = len(ts) - 1, []
        for i in range(n + (1 if self._output_eval() else 0)):
            nxt = size[i + 1] if i < n else torch.ones((), dtype=torch.float64)
            out += [nxt / size[j] for j in range(i + 1)] + [nxt] * (i + 1)
        if self.predictor:  # heads on step i's newest state and data prediction
            for i in range(n):
                out += [HEAD_SCALE * size[i + 1] / size[i]] * FEATURES
                out += [HEAD_SCALE * size[i + 1]] * FEATURES
        return torch.stack(out).detach()

    def run_with(self, ctx, x, ts, c):
        n, k, xs, ds, prev = len(ts) - 1, 0, [], [], None
        heads = self._n_constant(n)

        def combine(k):
            m = len(xs)
            return sum(c[k + j] * xj for j, xj in enumerate(xs)) + sum(
                c[k + m + j] * dj for j, dj in enumerate(ds))

        for i in range(n):
            pred = ctx(x, ts[i])
            xs.append(x)
            ds.append(pred.x0)
            step = combine(k)
            if self.predictor:  # per-sample corrections of the newest coefficients
                da, db = self.heads(c, heads, i, pred.eps, pred.x0, prev)
                step = step + column(da, x) * x + column(db, x) * pred.x0
                prev = (pred.eps, pred.x0)
            x = step.to(pred.x0.dtype)
            k += 2 * (i + 1)
            if i < n - 1 or not self.denoise_final:
                yield Step(i + 1, x, pred.x0)
                continue
            if not self.final_eval:  # x_n is the output: the fit aimed it at the denoised endpoint
                coeffs = ctx.model.coeffs(ts[n], x)
                yield Step(n, x, pred.x0, final=Prediction(x, as_time(ts[n], x), coeffs, "x0", x))
                continue
            last = ctx(x, ts[n])
            xs.append(x)
            ds.append(last.x0)
            out = combine(k).to(x.dtype)
            yield Step(n, x, pred.x0, final=Prediction(x, last.t, last.coeffs, "x0", out))

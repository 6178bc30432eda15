"""Bespoke non-stationary solvers (Shaul, Singer, Gat, Ben-Hamu, Lipman, Chen, Karrer 2024,
"Bespoke Non-Stationary Solvers for Fast Sampling of Diffusion and Flow Models", ICML 2024).

A non-stationary (NS) solver takes every step with coefficients of its own over the whole history:

    x_{i+1} = a_i x_i + sum_{j <= i} b_ij D_j,        D_j = D(x_j, t_j) the data prediction,

and, with ``denoise_final``, returns x_out = a_n x_n + sum_{j <= n} b_nj D_j (D_n evaluated at
t_n = t_min, the final denoise's evaluation). Every multistep exponential integrator in the data
prediction is such a solver on its grid; the family is initialised at DPM-Solver++(2M) (Lu et al.
2022): a_i = sigma_{i+1} / sigma_i, b_ii = -alpha_{i+1} (e^{-h_i} - 1)(1 + 1/2r_i),
b_{i,i-1} = alpha_{i+1} (e^{-h_i} - 1) / 2r_i (r_i = h_{i-1} / h_i; first step DDIM), and
x_out = D_n. The paper writes the history in the flow's states and velocities; in the data
prediction the same span is reached with one state per step (x_j for j < i is a combination of
x_i and the D's). As in the paper the grid t_i and the coefficients are fitted together, to the
endpoints of exact solves from a small set of prior samples (RMSE; the paper fits PSNR of images),
by gradient descent through the solve (here L-BFGS, see :mod:`studio.core.solvers._fitted`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import Prediction
from ..registry import SOLVERS
from ._fitted import FittedSolver
from .base import Step


@SOLVERS.register("bns")
@dataclass
class BespokeNS(FittedSolver):
    """Bespoke non-stationary solver: per-step coefficients over all earlier data predictions,
    fitted to the model with the grid (Shaul et al. 2024); unfitted it is DPM-Solver++(2M)."""

    title = "Bespoke non-stationary solver (fitted; Shaul et al. 2024)"
    paper = "Shaul et al. 2024, Bespoke Non-Stationary Solvers for Fast Sampling of Diffusion and Flow Models"
    order = 2
    base = ("dpm-solver++-2m", {})

    def n_coefficients(self, n):
        return n * (n + 1) // 2 + n + ((n + 2) if self.denoise_final else 0)

    def _parts(self, process, ts):
        alpha, sigma = process.alpha(ts), process.sigma(ts)
        lam = 0.5 * process.logsnr(ts)
        h = lam[1:] - lam[:-1]
        return alpha, sigma, h, torch.expm1(-h)

    def base_coefficients(self, process, ts):
        alpha, sigma, h, em = self._parts(process, ts)
        n, out = len(ts) - 1, []
        for i in range(n):
            row = [torch.zeros((), dtype=torch.float64)] * (i + 2)
            row[0] = sigma[i + 1] / sigma[i]
            if i == 0:
                row[1] = -alpha[1] * em[0]
            else:
                half_r = 0.5 * h[i] / h[i - 1]  # 1 / 2r
                row[i + 1] = -alpha[i + 1] * em[i] * (1 + half_r)
                row[i] = alpha[i + 1] * em[i] * half_r
            out += row
        if self.denoise_final:
            out += [torch.zeros((), dtype=torch.float64)] * (n + 1) + [torch.ones((), dtype=torch.float64)]
        return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in out])

    def coefficient_scale(self, process, ts):
        alpha, sigma, h, em = self._parts(process, ts)
        n, out = len(ts) - 1, []
        for i in range(n):
            ddim = -alpha[i + 1] * em[i]
            out += [sigma[i + 1] / sigma[i]] + [ddim] * (i + 1)
        if self.denoise_final:
            out += [torch.ones((), dtype=torch.float64)] * (n + 2)
        return torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in out]).detach()

    def run_with(self, ctx, x, ts, c):
        n, k, ds = len(ts) - 1, 0, []
        for i in range(n):
            pred = ctx(x, ts[i])
            ds.append(pred.x0)
            x = (c[k] * x + sum(c[k + 1 + j] * d for j, d in enumerate(ds))).to(pred.x0.dtype)
            k += i + 2
            if i < n - 1 or not self.denoise_final:
                yield Step(i + 1, x, pred.x0)
                continue
            last = ctx(x, ts[n])
            ds.append(last.x0)
            out = (c[k] * x + sum(c[k + 1 + j] * d for j, d in enumerate(ds))).to(x.dtype)
            yield Step(n, x, pred.x0, final=Prediction(x, last.t, last.coeffs, "x0", out))

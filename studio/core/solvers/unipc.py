"""UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
Diffusion Models"): multistep predictor UniP-p and corrector UniC-p on the data prediction."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..params import param
from ..registry import SOLVERS
from ._common import ab, lam
from .base import Solver, Step


@SOLVERS.register("unipc")
@dataclass
class UniPC(Solver):
    """Each step: evaluate the data prediction m_i at the predicted x_i; UniC corrects x_i with it
    (the evaluation is reused, no extra NFE); UniP then extrapolates to t_{i+1}:

        x_t = (sigma_t/sigma_s) x_s + alpha_t (1 - e^-h) m_s - alpha_t B(h) sum_k a_k D_k,

    D_k = (m_k - m_s) / r_k the differences to earlier points (r_k = (lambda_k - lambda_s) / h), the
    a_k solving the order conditions R a = phi(h) / B(h) with B(h) = h (bh1) or e^h - 1 (bh2). With
    ``order`` p, UniP-p is of order p and UniC-p raises it to p + 1 (Theorem 3.1); the first steps
    use lower orders. The last corrector runs on the evaluation at the final time, which the final
    denoise reuses, as diffusers' UniPCMultistepScheduler does with its last step to sigma = 0.
    """

    title = "UniPC (predictor-corrector, data prediction)"
    order = 3
    reuses_final_eval = True
    variant: str = param("bh2", "B(h): bh1 = h (small NFE), bh2 = e^h - 1", choices=("bh1", "bh2"))
    solver_order: int = param(2, "order p of the predictor UniP (the corrector adds one)", min=1,
                              max=3)
    lower_order_final: bool = param(True, "at most second order on the last step (as diffusers)")

    def nfe_for_steps(self, steps: int) -> int:
        # one evaluation per step, plus the one at the final time (corrector + final denoise)
        return steps + (1 if self.denoise_final else 0)

    # -- the coefficients of UniP / UniC ---------------------------------------------------------
    def _phi(self, h: float, k: int):
        """(e^-h - 1, B(h), [phi_i(h) i! / B(h) for i = 1..k]) in diffusers' recursion."""
        hh = -h
        h_phi_1 = math.expm1(hh)
        big = hh if self.variant == "bh1" and math.isfinite(hh) else math.expm1(hh)
        h_phi_k, fact, b = h_phi_1 / hh - 1.0, 1, []
        for i in range(1, k + 1):
            b.append(h_phi_k * fact / big)
            fact *= i + 1
            h_phi_k = h_phi_k / hh - 1.0 / fact
        return h_phi_1, big, b

    def _update(self, p, x, s, t, lam_s, lam_t, m0, hist, k, m_new=None):
        """UniP-k (``m_new`` None) or UniC-k (new evaluation ``m_new`` at t), from (x, s)."""
        h = lam_t - lam_s
        a_t, s_t = ab(p, t)
        s_s = ab(p, s)[1]
        h_phi_1, big, b = self._phi(h, k)
        rks = [(lk - lam_s) / h for lk, _ in hist[::-1][:k - 1]]
        diffs = [(mk - m0) / r for r, (_, mk) in zip(rks, hist[::-1])]
        out = (s_t / s_s) * x - (a_t * h_phi_1) * m0
        if m_new is None:  # predictor: order conditions on the k - 1 earlier points
            if k == 2:
                rhos = [0.5]
            elif k > 2:
                R = np.array([[r ** j for r in rks] for j in range(k - 1)])
                rhos = list(np.linalg.solve(R, np.array(b[:k - 1])))
        else:  # corrector: the new point (r = 1) joins them
            diffs.append(m_new - m0)
            if k == 1:
                rhos = [0.5]
            else:
                rr = rks + [1.0]
                R = np.array([[r ** j for r in rr] for j in range(k)])
                rhos = list(np.linalg.solve(R, np.array(b[:k])))
        if diffs:
            out = out - (a_t * big) * sum(float(c) * d for c, d in zip(rhos, diffs))
        return out.to(m0.dtype)

    def sample(self, ctx, x, ts):
        p = ctx.process
        n = len(ts) - 1
        lams = [lam(p, t) for t in ts]
        hist: list = []  # (lambda, m) at earlier points with finite lambda, newest last
        prev = None      # (x_s, m_s, order, history before s) of the last predictor step
        m_last = None
        for i in range(n + 1):
            if i == n and not self.denoise_final:
                yield Step(n, x, m_last)
                return
            pred = ctx(x, ts[i])
            m = pred.x0
            if prev is not None:
                x_s, m_s, k, hist_s = prev
                x = self._update(p, x_s, ts[i - 1], ts[i], lams[i - 1], lams[i], m_s, hist_s, k,
                                 m_new=m)
                yield Step(i, x, m_s, final=pred if i == n else None)
            if i == n:
                return
            k = min(self.solver_order, len(hist) + 1)
            if self.lower_order_final:
                k = min(k, n + 1 - i)
            prev = (x, m, k, list(hist))
            x = self._update(p, x, ts[i], ts[i + 1], lams[i], lams[i + 1], m, hist, k)
            if math.isfinite(lams[i]):
                hist = (hist + [(lams[i], m)])[-3:]
            m_last = m

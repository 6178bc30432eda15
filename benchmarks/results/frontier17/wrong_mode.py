"""Issue 17: where the 32-D mixture's NFE-10 error comes from (20000 prior samples, seed 7).

    python benchmarks/results/frontier17/wrong_mode.py [FROZEN_BNS.json]

1. iPNDM on Karras' grid (rho 7) at NFE 10-40: particles that end in the wrong mode (endpoint
   more than 1 from the exact one) and the RMSE without them;
2. for iPNDM at NFE 10: at which step the wrong particles were lost (the exact flow from the
   solver's state at each grid time already ends in the wrong mode);
3. iPNDM at NFE 10 on Karras grids of rho 3-15: how many wrong particles the grids share;
4. a global-Gaussian exponential integrator (the data's mean and covariance, taken from 4096 of
   the model's own samples, integrated exactly; the rest, D minus its best linear part,
   extrapolated in log sigma over the last 2 evaluations), Karras rho 15 and 25;
5. optionally a frozen fitted solver (``studio fit`` output params): its split into the
   wrong-mode and the rest.
"""
import json
import math
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import solver_accuracy as sa  # noqa: E402
from studio.core.model import Denoiser  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.pipeline import build_solver  # noqa: E402
from studio.core.registry import PROCESSES  # noqa: E402
from studio.core.runner import SamplingRun  # noqa: E402

N = 20000


def evaluation_set():
    """(net, proc, x_T, exact endpoints, best diffusers RMSE at NFE 10) of the 20000-particle set."""
    torch.set_num_threads(1)
    _, _, net, (smin, smax) = sa.frontier_problems(["32d"])[0]
    sa.SIGMA_MIN, sa.SIGMA_MAX = smin, smax
    proc = build(PROCESSES.get("edm"), {"sigma_min": smin, "sigma_max": smax}, "edm")
    x_T = torch.randn((N, 32), generator=torch.Generator().manual_seed(7),
                      dtype=torch.float64) * smax
    ref = sa.reference(net, proc, x_T, 1e-8)[0]
    best = min(sa.rmse(sa.run_peer(k, m, 10, net, proc, x_T)[0], ref)
               for k, m in sa.peer_configs().values())
    return net, proc, x_T, ref, best


AB = {1: [1.0], 2: [1.5, -0.5], 3: [23 / 12, -16 / 12, 5 / 12],
      4: [55 / 24, -59 / 24, 37 / 24, -9 / 24]}


def D(x, s):
    return den(x, s).x0


def karras(n, rho):
    r = np.linspace(0, 1, n + 1)
    return [float(v) for v in (smax ** (1 / rho) + r * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho]


def ipndm(x, sig):
    """iPNDM in sigma (EDM): states at every grid time."""
    es, xs = [], [x]
    for i in range(len(sig) - 1):
        es = (es + [(x - D(x, sig[i])) / sig[i]])[-4:]
        x = x + (sig[i + 1] - sig[i]) * sum(w * e for w, e in zip(AB[len(es)], reversed(es)))
        xs.append(x)
    return xs


def split(out, tag):
    d = (out - ref).norm(dim=1)
    w = d > 1
    e = sa.rmse(out, ref)
    ok = float(d[~w].pow(2).sum().div(32 * N).sqrt())
    wrong = float(d[w].pow(2).sum().div(32 * N).sqrt())
    print(f"{tag:44s} RMSE {e:.4f} ({e / best:.3f}x)  wrong mode {int(w.sum()):5d} "
          f"({w.sum().item() / N * 500:5.2f} per 500)  RMSE of the rest {ok:.4f}, of the wrong "
          f"ones {wrong:.4f}", flush=True)
    return w


def gauss_ei(x, sig, K=2):
    y, rs, us = (x - mu) @ V, [], []
    for i in range(len(sig) - 1):
        s, t = sig[i], sig[i + 1]
        r = (D(y @ V.T + mu, s) - mu) @ V - lam_ / (lam_ + s * s) * y
        rs, us = (rs + [r])[-K:], (us + [math.log(s)])[-K:]
        a, b = math.log(s), math.log(t)
        uq, wq = 0.5 * (b - a) * GL[0] + 0.5 * (a + b), 0.5 * (b - a) * GL[1]
        inv_phi = 1.0 / torch.sqrt(lam_[None] + torch.exp(2 * uq)[:, None])
        integ = 0
        for j in range(len(us)):
            lj = torch.ones_like(uq)
            for m in range(len(us)):
                if m != j:
                    lj = lj * (uq - us[m]) / (us[j] - us[m])
            integ = integ + ((lj * wq)[:, None] * inv_phi).sum(0) * rs[j]
        y = torch.sqrt(lam_ + t * t) * (y / torch.sqrt(lam_ + s * s) - integ)
    return D(y @ V.T + mu, sig[-1])


if __name__ == "__main__":
    net, proc, x_T, ref, best = evaluation_set()
    den = Denoiser(net, proc)
    smin, smax = proc.sigma_min, proc.sigma_max
    print(f"32-D mixture, {N} particles of seed 7; best diffusers RMSE at NFE 10: {best:.4f}")

    print("\n1. iPNDM, Karras rho 7")
    for n in (9, 14, 19, 29, 39):
        xs = ipndm(x_T, karras(n, 7.0))
        w = split(D(xs[-1], smin), f"ipndm karras NFE {n + 1}")
        if n == 9:
            states, wrong = xs, w.nonzero().flatten()

    print("\n2. iPNDM NFE 10: the exact flow from the solver's state at each grid time")
    g = karras(9, 7.0)
    for i in range(1, len(g)):
        sol = sa.dopri5(lambda t, x: den(x, t).velocity, states[i][wrong], g[i], smin, rtol=1e-8,
                        atol=1e-8)
        bad = (D(sol.y, smin) - ref[wrong]).norm(dim=1) > 1
        print(f"  from sigma {g[i]:8.3f}: {int(bad.sum()):4d} of the {len(wrong)} end in the wrong mode")

    print("\n3. iPNDM NFE 10 on Karras grids: shared wrong particles")
    sets = {}
    for rho in (3.0, 5.0, 7.0, 10.0, 15.0):
        sets[rho] = split(D(ipndm(x_T, karras(9, rho))[-1], smin), f"ipndm karras rho {rho:g}")
    ws = torch.stack(list(sets.values()))
    print(f"  wrong under every grid but rho 3: {int(ws[1:].all(0).sum())}; under every grid: "
          f"{int(ws.all(0).sum())}; under at least one: {int(ws.any(0).sum())}")

    print("\n4. global-Gaussian exponential integrator")
    samples = net.sample(4096, generator=torch.Generator().manual_seed(123)).double()
    mu, lam_, V = samples.mean(0), *torch.linalg.eigh(torch.cov(samples.T))
    GL = [torch.tensor(a, dtype=torch.float64) for a in np.polynomial.legendre.leggauss(16)]
    for rho in (15.0, 25.0):
        split(gauss_ei(x_T, karras(9, rho)), f"gaussian EI karras rho {rho:g}")

    if len(sys.argv) > 1:
        print("\n5. a frozen fitted solver")
        params = json.load(open(sys.argv[1]))
        out = SamplingRun(Denoiser(net, proc), build_solver(params.pop("id", "bns"), params, "s"),
                          x_T).run()
        split(out.samples, os.path.basename(sys.argv[1]))

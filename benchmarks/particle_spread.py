"""Run-to-run spread of a particle sampler on one bed of inverse_exactness.py: bias or variance?

Repeats one particle method (default TDS, K = 1000, kernel 2m, 400 karras steps, 8000 samples =
8 populations) over several run seeds at the benchmark's first measurement (seed 100) and reports,
per seed and as mean +- sd: the sw ratio to the exact-sample floor (output; weighted), the pooled
weight of posterior mode 0 (output, weighted with equal population mass, weighted with population
mass proportional to the SMC evidence estimate Z^), and the per-population mode weights.

    python benchmarks/particle_spread.py [--bed bimodal] [--seeds 10] [--steps 400] [--k 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import inverse_exactness as B  # noqa: E402
from studio.core.inverse.exactness import component_weights  # noqa: E402
from studio.core.inverse.guidance import build_operator  # noqa: E402
from studio.core.inverse.posterior import posterior_of  # noqa: E402
from studio.core.metrics import sliced_wasserstein_weighted  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.registry import GUIDANCE, NETWORKS, PROCESSES  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--bed", default="bimodal")
    ap.add_argument("--kind", default="tds")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--schedule", default="karras")
    ap.add_argument("--params", default="{}", help="extra guidance params (JSON)")
    ap.add_argument("--json", default="")
    ap.add_argument("--exact-draws", type=int, default=0, help="also the ratio of this many fresh "
                    "draws of n exact samples against the same floor (the metric's own spread)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    B.SCHEDULE["name"] = args.schedule
    proc = build(PROCESSES.get("vp-linear"), {}, "vp-linear")
    bed = next(b for b in B.BEDS if args.bed in b[0])
    net = build(NETWORKS.get("gmm"), bed[1](), bed[0])
    _, spec = bed[2][0]
    op = build_operator(spec)
    op.bind(net.data_shape)
    g = torch.Generator().manual_seed(100)
    y = op.measure(net.sample(1, g), 0.1, g)[0]
    post = posterior_of(net, op, y, 0.1)
    ref = B.Reference(post.sample(48000, torch.Generator().manual_seed(200)))
    pw = np.asarray(post.weights)
    floors = [ref.sw(post.sample(args.n, torch.Generator().manual_seed(300 + 1000 * d)))
              for d in range(8)]
    fl = float(np.mean(floors))
    fl_cw = [float(component_weights(post.sample(args.n, torch.Generator().manual_seed(
        300 + 1000 * d)), post)[0] - pw[0]) for d in range(8)]
    print(f"{bed[0]} {spec}: exact mode weights {pw.round(4)}; floor sw {fl:.4f} "
          f"(sd {np.std(floors):.4f}); exact-sample mode-0 error sd {np.std(fl_cw):.4f}", flush=True)
    if args.exact_draws:
        ex = np.array([ref.sw(post.sample(args.n, torch.Generator().manual_seed(5000 + d))) / fl
                       for d in range(args.exact_draws)])
        print(f"exact samples ({args.exact_draws} fresh draws of {args.n}): ratio {ex.mean():.2f} "
              f"+- {ex.std(ddof=1):.2f}, median {np.median(ex):.2f}, fraction <= 1.3: "
              f"{np.mean(ex <= 1.3):.2f}, max {ex.max():.2f}", flush=True)
    extra = json.loads(args.params)
    rows = []
    for sd in range(args.seed0, args.seed0 + args.seeds):
        t0 = time.time()
        gd = build(GUIDANCE.get(args.kind), {"operator": spec, "y": y.tolist(), "sigma_y": 0.1,
                                             "particles": args.k, "kernel": "2m", **extra},
                   args.kind)
        xs, _, _ = B.run_one(net, proc, gd, args.steps, args.n, sd)
        x0, w = gd.weighted
        p, k = w.shape
        cw = np.stack([component_weights(x0[i * k:(i + 1) * k], post, w[i])[0] for i in range(p)])
        lz = gd.log_evidence.numpy()
        zw = np.exp(lz - lz.max())
        zw = zw / zw.sum()
        sw_w = float(sliced_wasserstein_weighted(x0, w.reshape(-1) / p, ref.x, n_projections=256,
                                                 seed=0))
        sw_z = float(sliced_wasserstein_weighted(x0, (w * torch.as_tensor(zw)[:, None]).reshape(-1),
                                                 ref.x, n_projections=256, seed=0))
        r = {"seed": sd, "ratio": ref.sw(xs) / fl, "ratio_w": sw_w / fl, "ratio_z": sw_z / fl,
             "cw_out": float(component_weights(xs, post)[0] - pw[0]),
             "cw_w": float(cw.mean() - pw[0]), "cw_z": float(zw @ cw - pw[0]),
             "pop_sd": float(cw.std()), "ess_z": float(1 / (zw ** 2).sum()),
             "corr_lz_cw": float(np.corrcoef(lz, cw)[0, 1]), "pops": cw.round(4).tolist(),
             "logz": lz.round(3).tolist()}
        rows.append(r)
        print(f"seed {sd}: ratio {r['ratio']:.2f}x [w {r['ratio_w']:.2f}x, z {r['ratio_z']:.2f}x]  "
              f"mode-0 err out {r['cw_out']:+.4f} w {r['cw_w']:+.4f} z {r['cw_z']:+.4f}  "
              f"pop sd {r['pop_sd']:.4f}  ESS(Z) {r['ess_z']:.1f}/{p}  corr(logZ, w0) "
              f"{r['corr_lz_cw']:+.2f}  ({time.time() - t0:.0f}s)", flush=True)
    for key in ("ratio", "ratio_w", "ratio_z", "cw_out", "cw_w", "cw_z", "pop_sd", "ess_z"):
        v = np.array([r[key] for r in rows])
        print(f"{key:8s} mean {v.mean():+.4f} sd {v.std(ddof=1):.4f} "
              f"(se of mean {v.std(ddof=1) / np.sqrt(len(v)):.4f}) min {v.min():+.4f} "
              f"max {v.max():+.4f}")
    v = np.array([r["ratio"] for r in rows])
    print(f"ratio median {np.median(v):.2f}, fraction <= 1.3: {np.mean(v <= 1.3):.2f}")
    allp = np.concatenate([r["pops"] for r in rows]) - pw[0]
    print(f"all populations: mode-0 error mean {allp.mean():+.4f} sd {allp.std(ddof=1):.4f} "
          f"(se {allp.std(ddof=1) / np.sqrt(len(allp)):.4f}); iid sd at K "
          f"{np.sqrt(pw[0] * (1 - pw[0]) / args.k):.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "floor": fl, "exact_w0": float(pw[0]), "rows": rows},
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Summarise particle_spread.py JSON files against a well-estimated floor.

particle_spread.py divides by the mean of 8 exact draws (the benchmark's old default). The sw of
n exact samples is right-skewed (one draw's sd is a quarter to a third of its mean), so a floor
from 8 or 32 draws is off by 5-15 %. This recomputes the floor from ``--floor-draws`` draws (seeds
300 + 1000 d, the benchmark's scheme; default 200), rescales every run's ratio, and adds the ratio
of 30 fresh exact draws (the metric's own spread).

    python benchmarks/particle_spread_summary.py --bed bimodal LABEL=a.json,b.json ...
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import inverse_exactness as B  # noqa: E402
from studio.core.inverse.guidance import build_operator  # noqa: E402
from studio.core.inverse.posterior import posterior_of  # noqa: E402
from studio.core.params import build  # noqa: E402
from studio.core.registry import NETWORKS  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--bed", default="bimodal")
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--floor-draws", type=int, default=200)
    ap.add_argument("sets", nargs="+", help="LABEL=file.json[,file.json...]")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    bed = next(b for b in B.BEDS if args.bed in b[0])
    net = build(NETWORKS.get("gmm"), bed[1](), bed[0])
    op = build_operator(bed[2][0][1])
    op.bind(net.data_shape)
    g = torch.Generator().manual_seed(100)
    y = op.measure(net.sample(1, g), 0.1, g)[0]
    post = posterior_of(net, op, y, 0.1)
    ref = B.Reference(post.sample(48000, torch.Generator().manual_seed(200)))
    fl = float(np.mean([ref.sw(post.sample(args.n, torch.Generator().manual_seed(300 + 1000 * d)))
                        for d in range(args.floor_draws)]))
    ex = np.array([ref.sw(post.sample(args.n, torch.Generator().manual_seed(5000 + d))) / fl
                   for d in range(30)])
    print(f"{bed[0]}, {bed[2][0][0]}: {args.floor_draws}-draw floor {fl:.5f}")

    def line(label, r):
        return (f"| {label} | {len(r)} | {r.mean():.2f} +- {r.std(ddof=1):.2f} "
                f"({r.std(ddof=1) / np.sqrt(len(r)):.2f}) | {np.median(r):.2f} | "
                f"{r.min():.2f}-{r.max():.2f} | {np.mean(r <= 1.3):.2f} |")
    print("| run | seeds | ratio mean +- sd (se) | median | range | within 1.3x |")
    print("|---|---|---|---|---|---|")
    print(line("exact samples", ex))
    for spec in args.sets:
        label, files = spec.split("=", 1)
        r = []
        for f in files.split(","):
            with open(f) as fh:
                d = json.load(fh)
            r += [x["ratio"] * d["floor"] / fl for x in d["rows"]]
        print(line(label, np.array(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

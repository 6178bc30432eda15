#!/usr/bin/env python
"""The classifier-free guidance family on digits: CFG, CFG++, APG and CFG-Zero*, measured.

The bundled class-conditional digits U-Net (assets:digits.safetensors) asked for digit k = i mod
10, 20 NFE (DPM-Solver++(2M); CFG++ runs its own DDIM-form update on that solver's grid), several
settings of each guidance. The independent judge of classifier_guidance.py (model_quality.py's MLP
trained on real digits) reports the share of samples classified as requested and the Frechet
distance in its feature space to real digits, beside the real-vs-real floor. Autoguidance guides
with the bundled `digits-weak` (the same family with half the channels and a fifth of the training
steps, scripts/bundled/digits-weak.json; its exactness at scale 1 is tested in
tests/core/test_guidance_family.py).

    python benchmarks/cfg_family.py [--quick] [--only TEXT]   # --only: rows whose name has TEXT,
                                                              # the saved table's other rows kept

Prints a table and writes benchmarks/results/cfg_family.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from classifier_guidance import digits_pipeline  # noqa: E402
from model_quality import features_of, frechet, real_halves, train_classifier  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")

SETTINGS = [("conditional, no guidance", None)]
SETTINGS += [(f"cfg, scale {s:g}", {"kind": "cfg", "params": {"scale": s}}) for s in (2.0, 3.0)]
SETTINGS += [(f"cfg++, lambda {v:g}", {"kind": "cfg++", "params": {"lam": v}})
             for v in (0.0, 0.4, 0.8)]
SETTINGS += [(f"apg, scale {s:g}", {"kind": "apg", "params": {"scale": s}}) for s in (2.0, 3.0, 5.0)]
SETTINGS += [(f"cfg-zero-star, scale {s:g}", {"kind": "cfg-zero-star", "params": {"scale": s}})
             for s in (2.0, 3.0)]
SETTINGS += [("cfg-zero-star, scale 3, zero-init 1",
              {"kind": "cfg-zero-star", "params": {"scale": 3.0, "zero_init_steps": 1}})]
SETTINGS += [(f"autoguidance (digits-weak), scale {s:g}",
              {"kind": "autoguidance", "params": {"weak": "assets:digits-weak.safetensors",
                                                  "scale": s}}) for s in (1.5, 2.0, 3.0)]


def run(quick: bool, only: str | None = None) -> dict:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    judge = train_classifier(x, d.target, seed=1)
    feats = features_of(judge)
    half_a, half_b = real_halves(x)
    floor = frechet(feats(half_b), feats(half_a))
    n = 200 if quick else 900
    labels = np.arange(n) % 10
    rows = []
    for name, guidance in SETTINGS:
        if only and only not in name:
            continue
        t0 = time.perf_counter()
        res = digits_pipeline(guidance, labels, 20, 0).build().run()["s"]
        secs = time.perf_counter() - t0
        flat = res.samples.reshape(n, 64).double().numpy()
        with torch.no_grad():
            pred = judge(torch.as_tensor(flat)).argmax(1).numpy()
        row = {"setting": name, "nfe": res.nfe, "samples": n,
               "classified_as_requested": float((pred == labels).mean()),
               "frechet_judge_features": frechet(feats(flat[:899]), feats(half_a)),
               "seconds": round(secs, 2)}
        rows.append(row)
        print(f"  {name:<38} nfe {res.nfe:<3} as requested {row['classified_as_requested']:.3f}  "
              f"FD {row['frechet_judge_features']:.3f} (floor {floor:.3f})  {secs:.1f}s", flush=True)
    return {"frechet_floor": floor, "runs": rows, "load": os.getloadavg()}


def markdown(res: dict) -> str:
    lines = [f"| setting (digits, 20 NFE) | classified as requested | Frechet distance "
             f"(floor {res['frechet_floor']:.3f}) | seconds |", "|---|---|---|---|"]
    for r in res["runs"]:
        lines.append(f"| {r['setting']} | {100 * r['classified_as_requested']:.1f}% | "
                     f"{r['frechet_judge_features']:.3f} | {r['seconds']} |")
    load = ", ".join(f"{v:.2f}" for v in res["load"])
    lines.append(f"\nSeconds on a shared 2-core machine (load average at the end: {load}).")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 samples instead of 900")
    ap.add_argument("--only", help="run only the settings whose name contains this text; the "
                    "other rows are kept from the saved results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = run(args.quick, args.only)
    saved = os.path.join(RESULTS, "cfg_family.json")
    if args.only and os.path.exists(saved):
        with open(saved) as fh:
            old = json.load(fh)
        new = {r["setting"]: r for r in res["runs"]}
        names = [n for n, _ in SETTINGS]
        kept = {r["setting"]: r for r in old["runs"]}
        kept.update(new)
        res["runs"] = [kept[n] for n in names if n in kept]
        res["load_other_rows"] = old.get("load")
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "cfg_family.json"), "w") as f:
        json.dump(res, f, indent=2)
    md = markdown(res)
    with open(os.path.join(RESULTS, "cfg_family.md"), "w") as f:
        f.write("# The classifier-free guidance family on digits\n\n" + md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

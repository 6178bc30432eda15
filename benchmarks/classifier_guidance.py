#!/usr/bin/env python
"""Classifier guidance, measured.

Digits: the bundled digits U-Net run UNCONDITIONALLY (null class) and steered by the bundled
noise-conditional classifier (assets:digits-classifier.safetensors) towards requested digits, for
several guidance scales, at 20 NFE (DPM-Solver++(2M)). An independent judge (model_quality.py's
MLP trained on real digits, a different network from the guiding classifier) reports the share of
samples classified as requested and the Frechet distance in its feature space to real digits (with
the real-vs-real floor). Classifier-free guidance of the same model is shown beside it.

Exact bed: a 2-D three-component mixture, guided towards one component by its exact noisy
classifier p(k | x_t) at scale 1: sliced Wasserstein distance of the samples to exact samples of
that component, against the sample-vs-sample floor (the guided prediction equals that
component's exact posterior mean, to 1e-9 in tests/core/test_classifier_guidance.py: what is left
is the solver's discretisation error).

    python benchmarks/classifier_guidance.py [--threads 1] [--quick]

Prints a table and writes benchmarks/results/classifier_guidance.json and .md.
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

from model_quality import features_of, frechet, real_halves, train_classifier  # noqa: E402
from studio.core.metrics import sliced_wasserstein  # noqa: E402
from studio.core.pipeline import Pipeline  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")


def digits_pipeline(guidance: dict | None, labels, nfe: int, seed: int) -> Pipeline:
    nodes = {"p": {"type": "process", "kind": "vp-cosine", "params": {}},
             "n": {"type": "network", "kind": "file", "params": {"path": "assets:digits.safetensors"}},
             "s": {"type": "solver", "kind": "dpm-solver++-2m", "params": {"nfe": nfe}}}
    links = [["p", "n"], ["n", "s"]]
    if guidance is not None:
        nodes["g"] = {"type": "guidance", **guidance}
        links = [["p", "n"], ["n", "g"], ["g", "s"]]
    run = {"batch": len(labels), "seed": seed, "dtype": "float32"}
    if labels is not None:
        run["labels"] = [int(v) for v in labels]
    return Pipeline.from_dict({"format": "studio.pipeline/1", "nodes": nodes, "links": links,
                               "run": run})


def digits(quick: bool) -> dict:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    judge = train_classifier(x, d.target, seed=1)

    feats = features_of(judge)
    half_a, half_b = real_halves(x)
    floor = frechet(feats(half_b), feats(half_a))
    n = 200 if quick else 900
    labels = np.arange(n) % 10
    clf = "assets:digits-classifier.safetensors"
    settings = [("unconditional, no guidance", None, True)]
    settings += [(f"classifier guidance, scale {s:g}",
                  {"kind": "classifier", "params": {"classifier": clf, "scale": s}}, True)
                 for s in (1.0, 2.0, 4.0, 8.0)]
    settings += [("conditional + classifier, scale 1",
                  {"kind": "classifier", "params": {"classifier": clf, "scale": 1.0,
                                                    "conditional": True}}, True),
                 ("classifier-free guidance, scale 1", {"kind": "cfg", "params": {"scale": 1.0}},
                  True),
                 ("classifier-free guidance, scale 2", {"kind": "cfg", "params": {"scale": 2.0}},
                  True)]
    rows = []
    for name, guidance, use_labels in settings:
        lab = labels if guidance is not None else [-1] * n
        t0 = time.perf_counter()
        res = digits_pipeline(guidance, lab, 20, 0).build().run()["s"]
        secs = time.perf_counter() - t0
        flat = res.samples.reshape(n, 64).double().numpy()
        with torch.no_grad():
            pred = judge(torch.as_tensor(flat)).argmax(1).numpy()
        row = {"setting": name, "nfe": res.nfe, "samples": n,
               "classified_as_requested": float((pred == labels).mean()),
               "frechet_judge_features": frechet(feats(flat[:899]), feats(half_a)),
               "seconds": round(secs, 2)}
        rows.append(row)
        print(f"  {name:<36} nfe {res.nfe:<3} as requested {row['classified_as_requested']:.3f}  "
              f"FD {row['frechet_judge_features']:.3f} (floor {floor:.3f})  {secs:.1f}s", flush=True)
    return {"frechet_floor": floor, "runs": rows}


def exact_bed(quick: bool) -> dict:
    means = [[-2.0, 0.0], [2.0, 1.0], [0.0, 3.0]]
    covs = [[[0.5, 0.1], [0.1, 0.3]], [[0.2, 0.0], [0.0, 0.6]], [[0.4, 0.0], [0.0, 0.4]]]
    n = 1000 if quick else 4000
    from studio.core.networks.gmm import GMM
    out = []
    for k in range(3):
        for solver, steps in (("heun", 100), ("dpm-solver++-2m", 50), ("euler-maruyama", 1000)):
            nodes = {"p": {"type": "process", "kind": "vp-linear", "params": {}},
                     "m": {"type": "network", "kind": "gmm",
                           "params": {"means": means, "covs": covs, "weights": [0.5, 0.3, 0.2]}},
                     "g": {"type": "guidance", "kind": "classifier",
                           "params": {"classifier": "exact", "scale": 1.0}},
                     "s": {"type": "solver", "kind": solver, "params": {"steps": steps}}}
            pipe = Pipeline.from_dict({"format": "studio.pipeline/1", "nodes": nodes,
                                       "links": [["p", "m"], ["m", "g"], ["g", "s"]],
                                       "run": {"batch": n, "seed": k, "labels": k}})
            samples = pipe.build().run()["s"].samples
            comp = GMM(means=[means[k]], covs=[covs[k]], weights=[1.0])
            g = torch.Generator().manual_seed(100 + k)
            ref, ref2 = comp.sample(n, generator=g), comp.sample(n, generator=g)
            sw = float(sliced_wasserstein(samples, ref, seed=0))
            floor = float(sliced_wasserstein(ref2, ref, seed=0))
            out.append({"component": k, "solver": solver, "steps": steps, "sw2": sw,
                        "floor": floor})
            print(f"  component {k} {solver:<16} {steps:>4} steps  SW {sw:.4f} (floor {floor:.4f})",
                  flush=True)
    return {"samples": n, "runs": out}


def markdown(res: dict) -> str:
    d = res["digits"]
    lines = ["| setting (digits, 20 NFE) | classified as requested | Frechet distance (floor "
             f"{d['frechet_floor']:.3f}) |", "|---|---|---|"]
    for r in d["runs"]:
        lines.append(f"| {r['setting']} | {100 * r['classified_as_requested']:.1f}% | "
                     f"{r['frechet_judge_features']:.3f} |")
    lines += ["", "| exact bed (2-D mixture, scale 1) | solver | SW to the component | floor |",
              "|---|---|---|---|"]
    for r in res["exact"]["runs"]:
        lines.append(f"| component {r['component']} | {r['solver']} ({r['steps']} steps) | "
                     f"{r['sw2']:.4f} | {r['floor']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer samples")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("digits: unconditional model steered by the noise-conditional classifier")
    res = {"digits": digits(args.quick)}
    print("exact bed: exact noisy classifier of a 2-D mixture")
    res["exact"] = exact_bed(args.quick)
    res["threads"] = args.threads
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "classifier_guidance.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    with open(os.path.join(RESULTS, "classifier_guidance.md"), "w") as fh:
        fh.write(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The digits part of benchmarks/few_step.py (run that script; its docstring says what is measured).

A class-conditional few-step model on scikit-learn's 8x8 digits against its teacher: the share of
samples an independent judge classifies as the requested digit, and the Frechet distance in the
judge's features to real digits, at 1, 2 and 4 steps and for the teacher's ODE solver.
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from model_quality import features_of, frechet, real_halves, train_classifier
from studio.core.pipeline import Pipeline

PROCESS = {"kind": "vp-cosine", "params": {}}


def _run(model: str, solver: str, params: dict, labels: np.ndarray, seed: int):
    nodes = {"p": {"type": "process", **PROCESS},
             "n": {"type": "network", "kind": "file", "params": {"path": model}},
             "s": {"type": "solver", "kind": solver, "params": params}}
    run = {"batch": len(labels), "seed": seed, "dtype": "float32",
           "labels": [int(v) for v in labels]}
    built = Pipeline.from_dict({"format": "studio.pipeline/1", "nodes": nodes,
                                "links": [["p", "n"], ["n", "s"]], "run": run}).build()
    t0 = time.perf_counter()
    res = built.run()["s"]
    return res, time.perf_counter() - t0


def digits(args) -> dict:
    from sklearn.datasets import load_digits
    print("digits: the class-conditional few-step model against its teacher "
          "(independent judge: accuracy on the requested digit, Frechet distance in its features)")
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    judge = train_classifier(x, d.target, seed=1)
    feats = features_of(judge)
    half_a, half_b = real_halves(x)
    ref = feats(half_a)
    floor = frechet(feats(half_b), ref)
    n = args.n_digits
    labels = np.arange(n) % 10
    student, teacher = args.digits_student, args.digits_teacher
    rows = [(student, "flow-map", {"steps": k}, f"few-step model, {k} jump{'s' * (k > 1)}")
            for k in (1, 2, 4)]
    rows += [(student, "flow-map", {"steps": k, "multistep": True},
              f"few-step model, {k} steps, consistency multistep") for k in (2, 4)]
    rows += [(teacher, "dpm-solver++-2m", {"nfe": k}, f"teacher DPM-Solver++(2M), {k} NFE")
             for k in (2, 4, 10, 20)]
    results = []
    for model, solver, params, label in rows:
        res, secs = _run(model, solver, params, labels, seed=0)
        flat = res.samples.reshape(n, 64).double().numpy()
        with torch.no_grad():
            pred = judge(torch.as_tensor(flat)).argmax(1).numpy()
        acc = float((pred == labels).mean())
        fd = frechet(feats(flat), ref)
        results.append({"model": model, "solver": solver, "params": params, "label": label,
                        "nfe": res.nfe, "accuracy": acc, "frechet": fd,
                        "seconds": round(secs, 3)})
        print(f"  {label:52s} NFE {res.nfe:3d}  as requested {acc:.3f}  FD {fd:.3f}  "
              f"({secs:.2f}s)", flush=True)
    print(f"  {'real vs real floor':52s}                           FD {floor:.3f}")
    t20 = next(r for r in results if r["model"] == teacher and r["nfe"] == 20)
    best2 = min((r for r in results if r["model"] == student and r["nfe"] == 2),
                key=lambda r: r["frechet"])
    verdict = {"two_steps_row": best2["label"], "two_steps_accuracy": best2["accuracy"],
               "accuracy_aim": 0.95, "accuracy_met": best2["accuracy"] >= 0.95,
               "two_steps_frechet_over_teacher_20nfe": best2["frechet"] / t20["frechet"],
               "frechet_aim": 2.0, "frechet_met": best2["frechet"] <= 2.0 * t20["frechet"]}
    print(f"  2 steps ({best2['label']}): as requested {best2['accuracy']:.3f} (aim >= 0.95: "
          f"{'met' if verdict['accuracy_met'] else 'NOT met'}), FD / teacher 20 NFE = "
          f"{verdict['two_steps_frechet_over_teacher_20nfe']:.2f} (aim <= 2: "
          f"{'met' if verdict['frechet_met'] else 'NOT met'})")
    return {"n": n, "labels": "0-9 in turn", "judge": "model_quality.train_classifier(seed=1)",
            "frechet_floor": floor, "rows": results, "verdict": verdict,
            "load_average": list(os.getloadavg()),
            "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}

#!/usr/bin/env python
"""Quality of the bundled models, measured.

Digits (studio/assets/models/digits.safetensors):
  * a classifier trained on real scikit-learn digits (an MLP 64-128-64-10, seeded; its held-out
    accuracy on real digits is reported, with an RBF SVM's beside it) judges class-conditional
    samples: the share classified as the requested class, at 20 NFE, for several CFG scales and
    solvers;
  * Frechet distance between generated and real digits in the classifier's 64-d feature space
    and in a 20-d PCA space, with the real-vs-real floor (two disjoint halves of the real set,
    same sizes) beside it; the model was trained on all 1797 real digits, so a distance below the
    floor means samples close to the training set: the median distance of a sample to its
    nearest training digit is reported beside the median real-to-nearest-other-real distance.
2-D models: sliced Wasserstein distance (SW2) and MMD^2 (Gaussian kernels, bandwidths fixed from
the true data) between 2000 samples and 2000 fresh true points, with the true-vs-true floor.
Training speed: from benchmarks/results/train_bundled.json (scripts/train_bundled.py).

    python benchmarks/model_quality.py [--threads 1] [--quick]

Prints a table and writes benchmarks/results/model_quality.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.core.compare.digits_judge import DigitsMLP, real_halves, train_mlp  # noqa: E402,F401
from studio.core.library import resolve_model_path  # noqa: E402
from studio.core.metrics import mmd2, sliced_wasserstein  # noqa: E402
from studio.core.pipeline import Pipeline  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")


def pipeline(model: str, solver: str, nfe: int, batch: int, seed: int, labels=None,
             scale: float | None = None, process: str | None = None):
    from studio.core.modelfile import read_info
    info = read_info(resolve_model_path(model))
    proc = process or info.spec.process["kind"]
    proc_params = info.spec.process["params"] if process is None else {}
    nodes = {"p": {"type": "process", "kind": proc, "params": proc_params},
             "n": {"type": "network", "kind": "file", "params": {"path": model}},
             "s": {"type": "solver", "kind": solver, "params": {"nfe": nfe}}}
    links = [["p", "n"], ["n", "s"]]
    if scale is not None:
        nodes["g"] = {"type": "guidance", "kind": "cfg", "params": {"scale": scale}}
        links = [["p", "n"], ["n", "g"], ["g", "s"]]
    run = {"batch": batch, "seed": seed, "dtype": "float32"}
    if labels is not None:
        run["labels"] = [int(v) for v in labels]
    return Pipeline.from_dict({"format": "studio.pipeline/1", "nodes": nodes, "links": links,
                               "run": run}).build()


def sample(model, solver, nfe, batch, seed, labels=None, scale=None, process=None):
    built = pipeline(model, solver, nfe, batch, seed, labels, scale, process)
    t0 = time.perf_counter()
    res = built.run()["s"]
    return res.samples.to(torch.float64), res.nfe, time.perf_counter() - t0


# -- digits ----------------------------------------------------------------------------------------
# the judge's network and training live in the package (the comparison's `digits-mlp` judge)
Classifier = DigitsMLP
train_classifier = train_mlp


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), via symmetric eigensolves."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def nn_distances(a: np.ndarray, ref: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
    d = ((a[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
    if leave_one_out:
        np.fill_diagonal(d, np.inf)
    return np.sqrt(d.min(1))


def features_of(judge):
    """images [N, 64] (numpy) -> the judge's penultimate features (numpy)."""
    def feats(imgs):
        with torch.no_grad():
            return judge.features(torch.as_tensor(imgs)).numpy()
    return feats


def digits_quality(quick: bool) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    t0 = time.perf_counter()
    clf = train_classifier(xtr, ytr)
    with torch.no_grad():
        acc = float((clf(torch.as_tensor(xte)).argmax(1).numpy() == yte).mean())
    svm = SVC(gamma=0.02, C=10).fit(xtr, ytr)
    svm_acc = float((svm.predict(xte) == yte).mean())
    # the final judge is trained on every real digit
    judge = train_classifier(x, y, seed=1)
    print(f"digits classifier: held-out accuracy {acc:.4f} (RBF SVM {svm_acc:.4f}), "
          f"{time.perf_counter() - t0:.1f}s")

    feats = features_of(judge)
    half_a, half_b = real_halves(x)
    pca = PCA(20, random_state=0).fit(x)
    floor_feat = frechet(feats(half_b), feats(half_a))
    floor_pca = frechet(pca.transform(half_b), pca.transform(half_a))
    # memorisation: distance of each sample to its nearest training digit, against the distance
    # of each real digit to its nearest other real digit
    real_nn = float(np.median(nn_distances(x, x, leave_one_out=True)))
    n = 200 if quick else 1000
    labels = np.arange(n) % 10
    rows = []
    settings = [("dpm-solver++-2m", s) for s in (1.0, 1.5, 2.0, 3.0)]
    settings += [("heun", 2.0), ("euler", 2.0), ("ddim", 2.0)]
    for solver, scale in settings:
        s, nfe, secs = sample("assets:digits.safetensors", solver, 20, n, 0, labels, scale)
        flat = s.reshape(n, 64).numpy()
        with torch.no_grad():
            pred = judge(torch.as_tensor(flat)).argmax(1).numpy()
        ok = float((pred == labels).mean())
        ok_svm = float((svm.predict(flat) == labels).mean())
        gen = flat[:899]
        row = {"solver": solver, "cfg_scale": scale, "nfe": nfe, "samples": n,
               "classified_as_requested": ok, "classified_as_requested_svm": ok_svm,
               "frechet_classifier_features": frechet(feats(gen), feats(half_a)),
               "frechet_pca20": frechet(pca.transform(gen), pca.transform(half_a)),
               "median_nn_distance_to_training": float(np.median(nn_distances(flat, x))),
               "seconds": round(secs, 2)}
        rows.append(row)
        print(f"  {solver:<16} cfg {scale:<4} nfe {nfe:<3} as requested {ok:.3f} (svm {ok_svm:.3f})"
              f"  FD feat {row['frechet_classifier_features']:.3f} (floor {floor_feat:.3f})"
              f"  FD pca {row['frechet_pca20']:.3f} (floor {floor_pca:.3f})  NN "
              f"{row['median_nn_distance_to_training']:.3f} (real {real_nn:.3f})  {secs:.1f}s")
    return {"classifier_heldout_accuracy": acc, "svm_heldout_accuracy": svm_acc,
            "frechet_floor_classifier_features": floor_feat, "frechet_floor_pca20": floor_pca,
            "median_nn_distance_real_leave_one_out": real_nn,
            "real_split": [898, 899], "runs": rows}


# -- 2-D ---------------------------------------------------------------------------------------------
def true_points(model: str, n: int, seed: int) -> torch.Tensor:
    from studio.core.modelfile import read_info
    from studio.core.params import build
    from studio.core.training.data import DATASETS
    ds = read_info(resolve_model_path(model)).spec.training["dataset"]
    params = dict(ds.get("params", {}))
    params["n"] = n
    data = build(DATASETS.get(ds["kind"]), params, "dataset").load(seed)
    return torch.as_tensor(data.x, dtype=torch.float64)


def toy_quality(quick: bool) -> dict:
    out = {}
    n = 1000 if quick else 2000
    for name in ("moons", "gaussians", "swiss-roll", "checkerboard", "pinwheel"):
        model = f"assets:{name}.safetensors"
        try:
            resolve_model_path(model)
        except Exception:
            continue
        ref = true_points(model, n, 1001)
        ref2 = true_points(model, n, 1002)
        med = float(torch.cdist(ref[:1000], ref[:1000]).median())
        bw = [0.5 * med, med, 2 * med]
        floor = {"sw2": float(sliced_wasserstein(ref2, ref)), "mmd2": float(mmd2(ref2, ref, bw))}
        from studio.core.modelfile import read_info
        nc = read_info(resolve_model_path(model)).spec.num_classes
        rows = []
        for solver, nfe, process in (("dpm-solver++-2m", 20, None), ("heun", 20, None),
                                     ("euler", 20, None), ("ddim", 20, None),
                                     ("euler", 100, None),
                                     ("dpm-solver++-2m", 20, "vp-cosine"),
                                     ("dpm-solver++-2m", 20, "edm")):
            try:
                s, nfe_used, secs = sample(model, solver, nfe, n, 7, None, None, process)
            except Exception as exc:  # record, do not stop the benchmark
                rows.append({"solver": solver, "nfe": nfe, "pipeline_process": process or "trained",
                             "error": str(exc)})
                continue
            rows.append({"solver": solver, "nfe": nfe_used,
                         "pipeline_process": process or "trained",
                         **({"labels": "none (null class)"} if nc else {}),
                         "sw2": float(sliced_wasserstein(s, ref)), "mmd2": float(mmd2(s, ref, bw)),
                         "seconds": round(secs, 2)})
        if nc:  # class-conditional: labels spread evenly over the classes (the data's mix)
            labels = np.arange(n) % nc
            for scale in (None, 2.0):
                s, nfe_used, secs = sample(model, "dpm-solver++-2m", 20, n, 7, labels, scale)
                rows.append({"solver": "dpm-solver++-2m", "nfe": nfe_used,
                             "pipeline_process": "trained",
                             "labels": f"all {nc} classes" + (f", cfg {scale}" if scale else ""),
                             "sw2": float(sliced_wasserstein(s, ref)),
                             "mmd2": float(mmd2(s, ref, bw)), "seconds": round(secs, 2)})
        out[name] = {"floor": floor, "samples": n, "runs": rows}
        print(f"{name}: floor SW2 {floor['sw2']:.4f} MMD2 {floor['mmd2']:.5f}")
        for r in rows:
            head = (f"  {r['solver']:<16} nfe {r['nfe']:<4} process {r['pipeline_process']:<15} "
                    + (f"[{r['labels']}] " if "labels" in r else ""))
            print(head + (f"ERROR {r['error']}" if "error" in r else
                          f"SW2 {r['sw2']:.4f}  MMD2 {r['mmd2']:.5f}"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="fewer samples")
    ap.add_argument("--only", choices=("digits", "toy"), help="one part only (merged into the "
                    "existing results file)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = os.path.join(RESULTS, "model_quality.json")
    result = {}
    if args.only and os.path.exists(path):
        with open(path) as fh:
            result = json.load(fh)
    if args.only != "digits":
        result["toy_2d"] = toy_quality(args.quick)
    if args.only != "toy":
        result["digits"] = digits_quality(args.quick)
    speed = os.path.join(RESULTS, "train_bundled.json")
    if os.path.exists(speed):
        with open(speed) as fh:
            result["training"] = json.load(fh)
        print("training (scripts/train_bundled.py):")
        for name, r in result["training"]["models"].items():
            print(f"  {name:<13} {r['parameters']:>9,} params  {r['steps']} steps x {r['batch']}  "
                  f"{r.get('train_cpu_seconds', float('nan')):.0f}s CPU, {r['train_seconds']:.0f}s "
                  f"wall, {r['threads']} thread(s)  {r['size_bytes'] / 1e6:.2f} MB")
    result["threads"] = args.threads
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

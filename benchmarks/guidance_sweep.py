#!/usr/bin/env python
"""The README's classifier-guidance table, as a sweep through the comparison engine.

The same code path as ``studio compare`` (CompareSpec + ComparisonRun, local executor) on
``examples/digits_guidance_sweep.json`` (the bundled digits model, unconditional, steered by the
bundled digits classifier towards 900 requested digits, DPM-Solver++(2M) at 20 NFE, seed 0):

* axis ``guide.scale`` = 0, 1, 2, 4, 8 (scale 0 adds nothing: the unconditional row), i.e.
  ``studio compare examples/digits_guidance_sweep.json --axis guide.scale=0,1,2,4,8 --nfe 20
  --metrics classifier-accuracy:judge=digits-mlp,frechet-distance:judge=digits-mlp:samples=899
  --data REAL.npy --out DIR``;
* axis ``guide`` swapping the node: classifier guidance of the conditional model, CFG scale 1, 2.

Metrics by the judge ``digits-mlp`` (studio.core.compare.digits_judge: the independent MLP of
benchmarks/classifier_guidance.py, not the guiding classifier); the Frechet distance on the first
899 samples against the 898 real digits of ``real_halves``, its floor the other 899 real digits
(as that benchmark). Each cell's samples are also checked bit for bit against the benchmark's own
pipeline (``classifier_guidance.digits_pipeline``), and each row is printed beside the published
numbers of benchmarks/results/classifier_guidance.json.

    python benchmarks/guidance_sweep.py [--threads 1] [--quick] [--write-data REAL.npy]

``--write-data`` writes those 898 real digits ([898, 1, 8, 8], float32) for ``studio compare
--data`` and exits. Writes benchmarks/results/guidance_sweep.json and .md (not with --quick).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from classifier_guidance import digits_pipeline  # noqa: E402
from studio.core.compare import CompareSpec, ComparisonRun  # noqa: E402
from studio.core.compare.axes import Axis  # noqa: E402
from studio.core.compare.digits_judge import real_digits, real_halves  # noqa: E402
from studio.core.compare.metrics import MetricInput, build_metric  # noqa: E402
from studio.core.pipeline import Pipeline  # noqa: E402
from studio.core.untrusted import approve  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results")
EXAMPLE = os.path.join(ROOT, "examples", "digits_guidance_sweep.json")
CLF = "assets:digits-classifier.safetensors"
METRICS = [{"id": "classifier-accuracy", "params": {"judge": "digits-mlp"}},
           {"id": "frechet-distance", "params": {"judge": "digits-mlp", "samples": 899}}]
SCALES = [0.0, 1.0, 2.0, 4.0, 8.0]
SWAPS = [("conditional + classifier, scale 1",
          {"kind": "classifier", "params": {"classifier": CLF, "scale": 1.0, "conditional": True}}),
         ("classifier-free guidance, scale 1", {"kind": "cfg", "params": {"scale": 1.0}}),
         ("classifier-free guidance, scale 2", {"kind": "cfg", "params": {"scale": 2.0}})]


def write_real(path: str) -> np.ndarray:
    half_a, _ = real_halves(real_digits()[0])
    np.save(path, half_a.reshape(-1, 1, 8, 8).astype(np.float32))  # k/16: exact in float32
    return half_a


def setting_name(scale: float) -> str:
    return "unconditional, no guidance" if scale == 0 else f"classifier guidance, scale {scale:g}"


def direct(name: str, guidance: dict | None, n: int) -> torch.Tensor:
    """The benchmark's own run of a setting (classifier_guidance.py)."""
    labels = np.arange(n) % 10
    lab = labels if guidance is not None else [-1] * n
    return digits_pipeline(guidance, lab, 20, 0).build().run()["s"].samples


def sweep(pipe: Pipeline, axis: Axis, data: str, names: list[str], guidances: list, n: int):
    spec = CompareSpec.from_pipeline(pipe, [20], metrics=METRICS + ["nfe", "ms-per-sample"],
                                     data=data, axes=[axis])
    t0 = time.perf_counter()
    comp = ComparisonRun(spec).run()
    secs = time.perf_counter() - t0
    rows = []
    for cell in spec.cells():
        res = comp.results[cell.index]
        j = cell.point[0]
        same = bool(torch.equal(res.samples, direct(names[j], guidances[j], n)))
        rows.append({"setting": names[j], "axis": f"{axis.target}={axis.labels[j]}",
                     "classified_as_requested": res.metrics["classifier-accuracy"],
                     "frechet_judge_features": res.metrics["frechet-distance"],
                     "nfe": res.nfe, "ms_per_sample": res.metrics["ms-per-sample"],
                     "bit_identical_to_benchmark_run": same})
        print(f"  {rows[-1]['axis']:<40} as requested {rows[-1]['classified_as_requested']:.3f}  "
              f"FD {rows[-1]['frechet_judge_features']:.3f}  bit-identical {same}", flush=True)
    return rows, secs, comp


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="60 samples (a smoke run; no files)")
    ap.add_argument("--write-data", metavar="REAL.npy", help="write the 898 real digits and exit")
    args = ap.parse_args()
    if args.write_data:
        write_real(args.write_data)
        print(f"wrote {args.write_data}")
        return 0
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    pipe = Pipeline.load(EXAMPLE)
    n = 60 if args.quick else pipe.run.batch
    pipe.run.batch, pipe.run.labels = n, [i % 10 for i in range(n)]
    with open(os.path.join(RESULTS, "classifier_guidance.json")) as fh:
        published = {r["setting"]: r for r in json.load(fh)["digits"]["runs"]}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "real.npy")
        half_a = write_real(data)
        approve([data])  # the script's own file (as studio compare --data approves its own)
        _, half_b = real_halves(real_digits()[0])
        fd = build_metric("frechet-distance", {"judge": "digits-mlp"})
        floor = fd.compute(MetricInput(torch.as_tensor(half_b).reshape(-1, 1, 8, 8),
                                       data=torch.as_tensor(half_a).reshape(-1, 1, 8, 8)))
        print("axis guide.scale (studio compare --axis guide.scale=0,1,2,4,8)")
        rows, secs1, _ = sweep(pipe, Axis("guide.scale", SCALES), data,
                               [setting_name(s) for s in SCALES],
                               [None] + [{"kind": "classifier", "params": {"classifier": CLF,
                                                                          "scale": s}}
                                         for s in SCALES[1:]], n)
        print("axis guide (the node swapped)")
        more, secs2, _ = sweep(pipe, Axis("guide", [g for _, g in SWAPS],
                                          ["classifier-conditional", "cfg-1", "cfg-2"]), data,
                               [s for s, _ in SWAPS], [g for _, g in SWAPS], n)
    rows += more
    for r in rows:
        p = published.get(r["setting"], {})
        r["published_classified_as_requested"] = p.get("classified_as_requested")
        r["published_frechet_judge_features"] = p.get("frechet_judge_features")
    res = {"samples": n, "threads": args.threads, "frechet_floor": floor,
           "agreement": agreement(rows),
           "sweep_seconds": round(secs1 + secs2, 1),
           "load_average": {"before": [round(v, 2) for v in load_before],
                            "after": [round(v, 2) for v in os.getloadavg()]},
           "runs": rows}
    text = markdown(res)
    print(text)
    if not args.quick:
        with open(os.path.join(RESULTS, "guidance_sweep.json"), "w") as fh:
            json.dump(res, fh, indent=2)
        with open(os.path.join(RESULTS, "guidance_sweep.md"), "w") as fh:
            fh.write(text)
    return 0


def agreement(rows: list[dict]) -> dict:
    """How far the sweep's numbers are from the published ones (rows with both)."""
    both = [r for r in rows if r["published_classified_as_requested"] is not None]
    return {"rows": len(both),
            "accuracy_equal": sum(r["classified_as_requested"] ==
                                  r["published_classified_as_requested"] for r in both),
            "frechet_max_abs_difference": max((abs(r["frechet_judge_features"] -
                                                   r["published_frechet_judge_features"])
                                               for r in both), default=None)}


def markdown(res: dict) -> str:
    pub = lambda v, f: "-" if v is None else f(v)  # noqa: E731
    lines = [f"Sweep through the comparison engine, {res['samples']} samples per cell, judge "
             f"digits-mlp; Frechet floor {res['frechet_floor']:.3f}; "
             f"{res['sweep_seconds']} s for the sweeps on {res['threads']} thread(s), "
             f"load average {res['load_average']['before'][0]} before, "
             f"{res['load_average']['after'][0]} after (a shared machine).",
             "", f"Against benchmarks/results/classifier_guidance.json: accuracy equal in "
             f"{res['agreement']['accuracy_equal']} of {res['agreement']['rows']} rows; Frechet "
             f"distance within {res['agreement']['frechet_max_abs_difference']:.1e} (float64 "
             "rounding, enlarged by square roots of the near-zero eigenvalues of the feature "
             "covariances; numpy there, torch here).", "",
             "| setting (digits, 20 NFE) | axis value | classified as requested (sweep / "
             "README) | Frechet distance (sweep / README) | samples bit-identical to the "
             "benchmark's run |", "|---|---|---|---|---|"]
    for r in res["runs"]:
        lines.append(
            f"| {r['setting']} | {r['axis']} | {100 * r['classified_as_requested']:.1f}% / "
            f"{pub(r['published_classified_as_requested'], lambda v: f'{100 * v:.1f}%')} | "
            f"{r['frechet_judge_features']:.3f} / "
            f"{pub(r['published_frechet_judge_features'], lambda v: f'{v:.3f}')} | "
            f"{'yes' if r['bit_identical_to_benchmark_run'] else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

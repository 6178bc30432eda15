"""`studio fit PIPELINE.json --out FITTED.json [--json]`: fit once, reuse.

Every solver of the pipeline whose grid or coefficients are fitted to the model (the `optimized`
and `ld3` schedules, the `bns` and `amed` solvers) is fitted now, and the pipeline is written
with the fits as plain numbers (the `custom` schedule's `timepoints`, the solver's
`coefficients`): `studio run FITTED.json` then gives the same samples without fitting. Prints
each fit's wall time, solves and endpoint error on the fit's own prior samples."""
from __future__ import annotations

import json

NAME = "fit"
HELP = "fit a pipeline's fitted schedules and solvers once and save them as explicit numbers"


def add_arguments(p) -> None:
    p.add_argument("pipeline", help="pipeline JSON file (studio.pipeline/1)")
    p.add_argument("--out", required=True, help="the pipeline with its fits written out (JSON)")
    p.add_argument("--json", action="store_true", help="print the fits as JSON")


def run(args) -> int:
    from ...core.difffit import freeze_pipeline
    from ...core.pipeline import Pipeline, write_atomic

    built = Pipeline.load(args.pipeline).build()
    data, seconds = freeze_pipeline(built)
    report = {}
    for nid in seconds:
        info = getattr(built.solvers[nid], "fit_info", None)
        report[nid] = {"seconds": round(info.seconds if info else seconds[nid], 3),
                       "solves": getattr(info, "evaluations", None),
                       "initial_error": getattr(info, "initial_error", None),
                       "error": getattr(info, "error", None)}
    write_atomic(args.out, json.dumps(data, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        if not report:
            print("nothing to fit: no solver uses a fitted schedule or is a fitted solver")
        for nid, r in report.items():
            print(f"{nid}: fitted in {r['seconds']:.2f} s, {r['solves']} solves, endpoint RMSE "
                  f"{r['initial_error']:.4g} -> {r['error']:.4g} on the fit's prior samples")
        print(f"wrote {args.out}")
    return 0

"""`studio compare PIPELINE.json --solvers a,b,c --nfe 5,10,20 [--schedules ...] --out DIR`.

Runs the grid solver x schedule x NFE from the pipeline's noise and writes, in DIR:
``table.csv`` and ``table.json`` (one row per cell, metric columns, the data-vs-data floor),
``comparison.json`` (format ``studio.compare/1``: reopens, here with ``studio compare
comparison.json --out DIR`` to redraw without running, and in the app), ``samples.npz`` (every
cell's samples, keys ``<row> @ <nfe>``, plus ``reference/...`` and ``data``), ``grid.png`` and
``error_vs_nfe.png``, and per sweep axis ``error_vs_<axis>.png``.

``--axis node.param=v1,v2`` (repeatable, at most three) crosses the grid with any node parameter,
run setting (``run.seed``, ``run.batch``, ``run.labels``) or swapped node (``node=kind:k=v,...``);
``--executor local|processes|ray [--address HOST:PORT]`` chooses where the cells run.
"""
from __future__ import annotations

import os
import sys

NAME = "compare"
HELP = "compare solvers x schedules x NFE budgets from the same noise: table (CSV, JSON) + plots"


def add_arguments(p) -> None:
    p.add_argument("pipeline", nargs="?", help="pipeline JSON (studio.pipeline/1), or a saved comparison "
                   "(studio.compare/1) to redraw its table and plots without running")
    p.add_argument("--out", help="output folder (created if missing); required unless --metrics list")
    p.add_argument("--solvers", help="comma-separated solver ids, each optionally with params: "
                   "euler,heun,ddim:eta=1 (default: the pipeline's solver nodes)")
    p.add_argument("--nfe", help="comma-separated NFE budgets, e.g. 5,10,20 (required for a pipeline)")
    p.add_argument("--schedules", help="comma-separated schedules crossing every solver, e.g. "
                   "karras,logsnr,karras:rho=3 (default: each solver's own)")
    p.add_argument("--metrics", help="comma-separated metric ids, each optionally with params: "
                   "swd,classifier-accuracy:judge=digits-mlp (default: every default metric "
                   "that applies); `--metrics list` prints them")
    p.add_argument("--reference", default="auto", help="auto | adaptive[:rtol=..:atol=..] | "
                   "closed-form | solver:SOLVER[:param=value...] (default auto: exact for analytic "
                   "networks, Heun at 10x the largest NFE for trained ones)")
    p.add_argument("--data", help="data samples .npy for the distribution metrics (default: drawn "
                   "from an analytic network)")
    p.add_argument("--n-data", type=int, default=4096, help="data samples used (default 4096)")
    p.add_argument("--batch", type=int, help="override the pipeline's batch size")
    p.add_argument("--seed", type=int, help="override the pipeline's seed")
    p.add_argument("--noise", help="standard-normal noise .npy [batch, *data_shape] (as studio run)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--no-samples", action="store_true",
                   help="leave samples out of comparison.json and skip samples.npz")
    p.add_argument("--threads", type=int, help="torch intra-op threads (1 is fastest for small "
                   "analytic models and gives steadier per-sample times)")
    p.add_argument("--axis", action="append", default=[], metavar="TARGET=V1,V2,...",
                   help="a sweep axis crossing the grid (repeatable, at most 3): node.param=v1,v2 "
                   "(cfg.scale=1,2,4), run.seed=0,1 / run.batch=... / run.labels=..., or a whole "
                   "node swapped: node=kind[:k=v...],... (model=file:path=a.safetensors,"
                   "file:path=b.safetensors)")
    p.add_argument("--executor", default="local", choices=("local", "processes", "ray"),
                   help="where cells run: local (default), processes (a local pool), ray")
    p.add_argument("--address", help="Ray cluster HOST:PORT for --executor ray (default: a local "
                   "Ray instance)")
    p.add_argument("--workers", type=int, help="worker processes for --executor processes "
                   "(default: the CPU count) or CPUs of a local Ray instance")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def parse_reference(text: str):
    """``auto``, ``adaptive:rtol=1e-8``, ``solver:heun:nfe=801:schedule=karras``."""
    from ...core.compare.spec import _parse_item
    from ...core.errors import ParamError

    if text.startswith("solver:"):
        rest = text[len("solver:"):]
        if not rest:
            raise ParamError("write solver:SOLVER[:param=value...]", "--reference")
        sid, params = _parse_item(rest, "--reference")
        return {"kind": "solver", "params": {"solver": sid, "params": params or {"nfe": 501}}}
    kind, params = _parse_item(text, "--reference")
    return {"kind": kind, "params": params}


def _list_metrics() -> int:
    from ...core.compare.metrics import METRICS

    for mid, cls in METRICS.items():
        flag = "" if cls.default else "  (not by default)"
        print(f"{mid:<22} {cls.title}{flag}")
    return 0


def _write_outputs(*args, **kwargs) -> list[str]:
    from ...render.compare_outputs import write_outputs
    return write_outputs(*args, **kwargs)


def _check_cost(runner, spec) -> None:
    """Refuse a comparison that would not fit in memory: the largest cell's run plus every
    cell's kept samples and the data."""
    import math

    from ...core.cost import sampling_estimate
    from ...core.solvers.base import steps_for_budget

    built = runner.built
    steps = max(steps_for_budget(sv.nfe_for_steps, max(spec.nfes))
                for sv in built.solvers.values()) if spec.nfes else None
    est = sampling_estimate(built, steps=steps, what="this comparison")
    d = math.prod(tuple(built.network.data_shape)) or 1
    est.parts["kept samples"] = (len(runner.cells) + 1) * built.settings.batch * d * 8
    est.parts["data"] = 2 * int(spec.n_data or 0) * d * 8
    est.fixed += est.parts["data"]
    est.fixed_parts += ("data",)
    est.check(built.device(), "compare")


def _progress(quiet: bool):
    if quiet:
        return None
    state = {"last": None}

    def on(ev):
        if ev.step is None:
            if ev.phase in ("reference", "data") or ev.message.startswith(("skipped", "failed")):
                print(f"  {ev.message}", file=sys.stderr)
            return
        key = ev.cell.key
        if ev.step.index == ev.step.steps and state["last"] != key:
            state["last"] = key
            print(f"  [{ev.done + 1}/{ev.total}] {key}: {ev.step.steps} steps, nfe {ev.step.nfe}, "
                  f"{ev.step.elapsed:.2f}s", file=sys.stderr)
    return on


def _print_table(comp) -> None:
    cols = [c for c in comp.columns() if c not in ("solver", "schedule", "message")]
    rows = comp.table() + ([comp.floor_row()] if comp.floor_row() else [])
    cells = [[("" if r.get(c) is None else f"{r[c]:.4g}" if isinstance(r.get(c), float)
               else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for x in cells:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths)))


def run(args) -> int:
    import torch

    from ...core.arrays import load_array
    from ...core.compare import Comparison, CompareSpec, ComparisonRun
    from ...core.compare.spec import parse_list, parse_nfes, parse_schedule, parse_solver
    from ...core.errors import ParamError, PipelineError
    from ...core.pipeline import Pipeline
    from ..safety import deferred_interrupt

    if args.metrics == "list":
        return _list_metrics()
    if args.threads is not None:
        if args.threads < 1:
            raise ParamError("must be a positive integer", "--threads")
        torch.set_num_threads(args.threads)
    if not args.pipeline:
        raise ParamError("give a pipeline JSON (or a saved comparison)", "pipeline")
    if not args.out:
        raise ParamError("give the output folder", "--out")
    from ...core.atomic import check_output
    from ...core.untrusted import LIMITS, loads_json, read_regular

    check_output(args.out, "--out", mkdir=args.mkdir, folder=True)
    big = 4 * LIMITS["json_bytes"]  # a saved comparison embeds its samples
    head = loads_json(read_regular(args.pipeline, args.pipeline, PipelineError, big),
                      args.pipeline, PipelineError, max_string=big)
    if isinstance(head, dict) and head.get("format") == "studio.compare/1":
        comp = Comparison.load(args.pipeline)
        with deferred_interrupt("writing the outputs, one moment"):
            paths = _write_outputs(comp, args.out, not args.no_plots, not args.no_samples,
                                  args.quiet)
    else:
        if not args.nfe:
            raise ParamError("give the NFE budgets, e.g. --nfe 5,10,20", "--nfe")
        from ...core.compare.axes import parse_axis
        from ...core.compare.executors import make_executor

        axes = [parse_axis(a) for a in args.axis]
        if args.workers is not None and args.workers < 1:
            raise ParamError("must be a positive integer", "--workers")
        pipe = Pipeline.load(args.pipeline)
        if args.batch is not None:
            if args.batch < 1:
                raise ParamError("must be a positive integer", "--batch")
            pipe.run.batch = args.batch
        if args.seed is not None:
            from ...core.untrusted import check_seed
            pipe.run.seed = check_seed(args.seed, "--seed")
        solvers = ([parse_solver(s) for s in parse_list(args.solvers)] if args.solvers else None)
        if solvers is not None:
            guidance = pipe.branches()[0].guidance
            for s in solvers:
                s.guidance = guidance
        schedules = [parse_schedule(s) for s in parse_list(args.schedules)] if args.schedules else []
        from ...core.compare.metrics import parse_metric
        metrics = [parse_metric(m) for m in parse_list(args.metrics)] if args.metrics else None
        data = os.path.abspath(args.data) if args.data else None
        if data:
            from ...core.untrusted import approve
            approve([data])  # named on the command line: the user's own choice
        spec = CompareSpec.from_pipeline(pipe, parse_nfes(args.nfe), solvers, schedules,
                                         metrics=metrics, reference=parse_reference(args.reference),
                                         data=data, n_data=args.n_data, axes=axes)
        noise = (torch.as_tensor(load_array(args.noise, f"--noise {args.noise}"))
                 if args.noise else None)
        if args.executor == "local" and args.address:
            raise ParamError("--address goes with --executor ray", "--address")
        executor = make_executor(args.executor, args.address, args.workers)
        runner = ComparisonRun(spec, noise=noise, on_progress=_progress(args.quiet),
                               executor=executor)
        _check_cost(runner, spec)
        if not args.quiet:
            axes_text = "".join(f" x {len(a.values)} {a.target}" for a in spec.axes)
            print(f"studio compare: {len(runner.cells)} cells "
                  f"({len(spec.rows())} rows x {len(spec.nfes)} NFE budgets{axes_text}), "
                  f"batch {pipe.run.batch}, seed {pipe.run.seed}, executor {args.executor}",
                  file=sys.stderr)
        comp = runner.run()
        with deferred_interrupt("writing the outputs, one moment"):
            paths = _write_outputs(comp, args.out, not args.no_plots, not args.no_samples,
                                  args.quiet)
    if not args.quiet:
        _print_table(comp)
        for mid, why in comp.unavailable.items():
            print(f"  ({mid}: {why})", file=sys.stderr)
        for p in paths:
            print(f"wrote {p}", file=sys.stderr)
    return 0

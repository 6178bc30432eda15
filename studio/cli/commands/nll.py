"""`studio nll PIPELINE.json --data X.npy --out NLL.npz`: exact NLL through the PF-ODE.

Writes ``nll`` (per-sample negative log-likelihood in nats; with dequantisation a discrete upper
bound), ``bpd`` (bits per dimension, image data or --dequantize uniform), ``prior_logp``,
``delta_logp`` (the divergence integral) and ``nfe``; prints the mean and its standard error.
"""
from __future__ import annotations

import io
import sys

NAME = "nll"
HELP = "negative log-likelihood of data under a pipeline's model (PF-ODE, change of variables)"


def add_arguments(p) -> None:
    p.add_argument("pipeline", help="pipeline JSON (its process, network and first branch's guidance)")
    p.add_argument("--data", required=True, help="data .npy [N, *data_shape] (float in the "
                   "network's space, or uint8 levels)")
    p.add_argument("--out", required=True, help="result .npz")
    p.add_argument("--labels", help="class labels .npy [N] for a class-conditional network")
    p.add_argument("--divergence", default="auto", choices=("auto", "exact", "hutchinson"),
                   help="exact (autograd; default up to 16 dimensions) or Hutchinson's estimator")
    p.add_argument("--probe", default="rademacher", choices=("rademacher", "gaussian"))
    p.add_argument("--probes", type=int, default=1, help="Hutchinson probes per sample (default 1)")
    p.add_argument("--rtol", type=float, default=1e-5, help="ODE relative tolerance (default 1e-5)")
    p.add_argument("--atol", type=float, default=1e-5, help="ODE absolute tolerance (default 1e-5)")
    p.add_argument("--prior", default="standard", choices=("standard", "exact"),
                   help="standard: N(0, prior_std^2), the samplers' prior; exact: the analytic "
                   "network's own density at t_max")
    p.add_argument("--dequantize", default="auto", choices=("auto", "none", "uniform"),
                   help="uniform dequantisation (auto: for image data)")
    p.add_argument("--levels", type=int, default=256, help="discrete levels of the data (256)")
    p.add_argument("--data-range", default="-1,1", help="lowest,highest level (default -1,1)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--limit", type=int, help="use only the first N data samples")
    p.add_argument("--seed", type=int, default=0, help="probes and dequantisation noise")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    import numpy as np
    import torch

    from ...core.arrays import load_array
    from ...core.errors import ParamError, PipelineError
    from ...core.likelihood import LikelihoodSettings, pipeline_likelihood
    from ...core.params import build
    from ...core.pipeline import Pipeline, write_atomic

    from ...core.atomic import check_output
    from ...core.cost import likelihood_estimate
    from ...core.untrusted import load_npy

    check_output(args.out, "--out", mkdir=args.mkdir)
    built = Pipeline.load(args.pipeline).build()
    if not args.data.endswith(".npy"):
        raise ParamError(f"data must be a .npy file, got {args.data!r}", "--data")
    raw = load_npy(args.data, f"--data {args.data}")
    if raw.dtype.kind not in "fiu":
        raise ParamError(f"expected a numeric array, got dtype {raw.dtype}", "--data")
    x = torch.as_tensor(raw if raw.dtype == np.uint8 else raw.astype(np.float64))
    if args.limit is not None:
        if args.limit < 1:
            raise ParamError("must be positive", "--limit")
        x = x[:args.limit]
    labels = None
    if args.labels:
        labels = torch.as_tensor(load_array(args.labels, "--labels", ndim=1)).long()[:len(x)]
    try:
        lo, hi = (float(v) for v in args.data_range.split(","))
    except ValueError:
        raise ParamError("write LOW,HIGH, e.g. -1,1", "--data-range") from None
    settings = build(LikelihoodSettings, {
        "divergence": args.divergence, "probe": args.probe, "probes": args.probes,
        "rtol": args.rtol, "atol": args.atol, "prior": args.prior, "dequantize": args.dequantize,
        "levels": args.levels, "data_range": [lo, hi], "batch_size": args.batch_size,
        "seed": args.seed}, "nll")

    last = [-1.0]

    def progress(done, total, frac):
        if args.quiet:
            return
        pct = 100.0 * (done + frac * min(args.batch_size, total - done)) / total
        if pct - last[0] >= 2 or done == total:
            last[0] = pct
            sys.stderr.write(f"\rnll: {pct:5.1f}% ({done}/{total} samples)")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    if x.ndim < 1 or len(x) == 0:
        raise PipelineError("no data samples", "--data")
    likelihood_estimate(built, settings.batch_size, len(x)).check(built.device(), "nll")
    res = pipeline_likelihood(built, x, settings, labels=labels, on_progress=progress)
    out = {"nll": res.nll, "prior_logp": res.prior_logp, "delta_logp": res.delta_logp,
           "nfe": np.asarray(res.nfe)}
    if res.bpd is not None:
        out["bpd"] = res.bpd
    buf = io.BytesIO()
    np.savez(buf, **out)
    write_atomic(args.out, buf.getvalue())
    if not args.quiet:
        s = res.summary()
        line = f"nll {s['nll_mean']:.5f} +- {s['nll_stderr']:.5f} nats over {s['samples']} samples"
        if res.bpd is not None:
            line += f", {s['bpd_mean']:.4f} bits/dim"
        print(line)
        print(f"({res.method}; {res.nfe} field evaluations, {res.seconds:.1f}s)", file=sys.stderr)
    return 0

"""`studio run PIPELINE.json --out RESULT.npz [--noise Z.npy] [--trajectory] [--quiet]`.

PIPELINE may also be a PNG exported by the studio (the pipeline is embedded in its metadata);
relative paths in it resolve against the PNG's folder."""
from __future__ import annotations

import io
import sys

NAME = "run"
HELP = "run every solver of a pipeline and save the samples"


def add_arguments(p) -> None:
    p.add_argument("pipeline", help="pipeline JSON file (studio.pipeline/1), or a PNG with the "
                   "pipeline embedded")
    p.add_argument("--out", required=True, help="result .npz")
    p.add_argument("--noise", help="standard-normal noise .npy of shape [batch, *data_shape]")
    p.add_argument("--trajectory", action="store_true", help="also save x_t and x0 per step")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import numpy as np        # here, not at the top: `studio --help` imports every command
    import torch

    from ...core.atomic import check_output
    from ...core.cost import check_run
    from ...core.pipeline import Pipeline, write_atomic
    from ...core.untrusted import load_npy
    from ..progress import ProgressBar

    check_output(args.out, "--out", mkdir=args.mkdir)
    if args.pipeline.lower().endswith(".png"):
        from ...core.pngmeta import load_pipeline
        built = load_pipeline(args.pipeline).build()
    else:
        built = Pipeline.load(args.pipeline).build()
    noise = None
    if args.noise:
        z = load_npy(args.noise, f"--noise {args.noise}")
        noise = torch.as_tensor(z.astype(np.float64))
    check_run(built, args.trajectory, "run")
    bar = None if args.quiet else ProgressBar()
    results = built.run(noise=noise, record=args.trajectory, on_event=bar)
    out = {}
    for sid, res in results.items():
        out[f"{sid}.samples"] = res.samples.numpy()
        out[f"{sid}.nfe"] = np.asarray(res.nfe)
        out[f"{sid}.t"] = res.t.numpy()
        if res.latents is not None:
            out[f"{sid}.latents"] = res.latents.float().numpy()
        if args.trajectory:
            out[f"{sid}.trajectory"] = res.trajectory.numpy()
            if res.x0 is not None:
                out[f"{sid}.x0"] = res.x0.numpy()
    buf = io.BytesIO()
    np.savez(buf, **out)
    write_atomic(args.out, buf.getvalue())
    if not args.quiet:
        for sid, res in results.items():
            print(f"{sid}: {res.samples.shape[0]} samples, nfe {res.nfe}, {res.seconds:.2f}s",
                  file=sys.stderr)
    return 0

"""`studio invert PIPELINE.json --data X.npy --out Z.npz [--solver ID]`: integrate data to noise
with the pipeline's ODE solver (probability-flow ODE inversion). Z.npz holds ``z`` (standard
normal scale, [N, *data_shape]: give it to `studio run --noise`) and ``nfe``."""
from __future__ import annotations

import io
import sys

NAME = "invert"
HELP = "invert data to noise with the pipeline's ODE solver (keys z, nfe)"


def add_arguments(p) -> None:
    p.add_argument("pipeline", help="pipeline JSON file (studio.pipeline/1)")
    p.add_argument("--data", required=True, help="data .npy [N, *data_shape], in the data's units")
    p.add_argument("--out", required=True, help="result .npz with keys z and nfe")
    p.add_argument("--solver", help="the solver node to invert with (default: the first "
                   "deterministic one)")


def run(args) -> int:
    import numpy as np        # here, not at the top: `studio --help` imports every command
    import torch

    from ...core.arrays import load_array
    from ...core.atomic import check_output
    from ...core.invert import invert
    from ...core.pipeline import Pipeline, write_atomic

    check_output(args.out, "--out", mkdir=args.mkdir)   # before any work
    built = Pipeline.load(args.pipeline).build()
    data = torch.as_tensor(load_array(args.data, "--data"))
    z, nfe = invert(built, data, args.solver)
    buf = io.BytesIO()
    np.savez(buf, z=z.numpy(), nfe=np.asarray(nfe))
    write_atomic(args.out, buf.getvalue())
    print(f"inverted {z.shape[0]} items, nfe {nfe}", file=sys.stderr)
    return 0

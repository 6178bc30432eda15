"""Entry point of the ``studio`` command.

Exit codes: 0 success, 2 bad input (one line says what and where), 1 anything else.
"""
from __future__ import annotations

import argparse
import io
import sys

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio", description="Diffusion Studio. With no command, "
                                "opens the desktop application.")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("run", help="run every solver of a pipeline and save the samples")
    r.add_argument("pipeline", help="pipeline JSON file (studio.pipeline/1)")
    r.add_argument("--out", required=True, help="result .npz")
    r.add_argument("--noise", help="standard-normal noise .npy of shape [batch, *data_shape]")
    r.add_argument("--trajectory", action="store_true", help="also save x_t and x0 per step")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    for name in ("solvers", "processes", "schedules"):
        t = sub.add_parser(name, help=f"list the {name} with their parameters")
        t.add_argument("--json", action="store_true", help="print JSON")
    g = sub.add_parser("gui", help="open the application (automation options for docs and tests)")
    g.add_argument("pipeline", nargs="?")
    g.add_argument("--run", action="store_true", help="run the pipeline to the end")
    g.add_argument("--screenshot", help="save a PNG of the whole window")
    g.add_argument("--quit", action="store_true", help="quit when done")
    return p


def cmd_run(args) -> int:
    import torch

    from ..core.pipeline import Pipeline, write_atomic
    from ..core.arrays import load_array
    from .progress import ProgressBar

    built = Pipeline.load(args.pipeline).build()
    noise = None
    if args.noise:
        noise = torch.as_tensor(load_array(args.noise, "--noise"))
    bar = None if args.quiet else ProgressBar()
    results = built.run(noise=noise, record=args.trajectory, on_event=bar)
    out = {}
    for sid, res in results.items():
        out[f"{sid}.samples"] = res.samples.numpy()
        out[f"{sid}.nfe"] = np.asarray(res.nfe)
        out[f"{sid}.t"] = res.t.numpy()
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


def cmd_gui(args) -> int:
    try:
        from ..app.main import run_app
    except ImportError as exc:
        print(f"studio: the application is not available ({exc})", file=sys.stderr)
        return 1
    return run_app(args)


def main(argv: list[str] | None = None) -> int:
    from ..core.errors import Cancelled, StudioError

    args = _parser().parse_args(argv)
    try:
        if args.command is None:
            args = _parser().parse_args(["gui"])
            return cmd_gui(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command in ("solvers", "processes", "schedules"):
            from .tables import print_table
            print_table(args.command, args.json)
            return 0
        if args.command == "gui":
            return cmd_gui(args)
    except StudioError as exc:
        print(f"studio: error: {exc}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"studio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

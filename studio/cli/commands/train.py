"""`studio train CONFIG.json --out MODEL.safetensors | --library`: train a model."""
from __future__ import annotations

import sys

NAME = "train"
HELP = "train a model from a training configuration (studio.train/1) and save the model file"


def add_arguments(p) -> None:
    p.add_argument("config", help="training configuration JSON (studio.train/1)")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", help="model file to write (.safetensors)")
    dest.add_argument("--library", action="store_true", help="write it into the user's model "
                      "library (named after the model)")
    p.add_argument("--steps", type=int, help="override optim.steps")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--checkpoint", help="checkpoint file (.safetensors) written every "
                   "checkpoint_every steps, on Ctrl-C and at the end")
    p.add_argument("--resume", help="continue from this checkpoint (the config then only "
                   "gives --steps' default)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--name", help="model name (default: the config's)")
    p.add_argument("--no-preview", action="store_true", help="store no preview image")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run(args) -> int:
    import torch

    from ...core.errors import StudioError
    from ..safety import deferred_interrupt
    from ...core.training import (TrainConfig, Trainer, TrainFinished, TrainPreview,
                                  TrainProgress)

    if args.out and not args.out.lower().endswith(".safetensors"):
        raise StudioError("the model file must end in .safetensors", "--out")
    if args.out:
        from ...core.atomic import check_output
        check_output(args.out, "--out", mkdir=args.mkdir)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume:
        trainer = Trainer.resume(args.resume, args.device, steps=args.steps)
    else:
        cfg = TrainConfig.load(args.config)
        if args.steps is not None:
            cfg.optim.steps = args.steps
        if args.seed is not None:
            from ...core.untrusted import check_seed
            cfg.seed = check_seed(args.seed, "--seed")
        trainer = Trainer(cfg, args.device)
    out = sys.stderr
    quiet = args.quiet
    if not quiet:
        cfg = trainer.config
        params = sum(p.numel() for p in trainer.model.net.parameters())
        print(f"training {cfg.name or args.config}: {cfg.architecture['id']} ({params:,} "
              f"parameters), {cfg.objective.target} on {cfg.process['kind']}, data "
              f"{cfg.data['kind']} {list(trainer.data.shape)} x {len(trainer.x)}"
              + (f", {trainer.num_classes} classes" if trainer.num_classes else ""), file=out)
    finished = None
    try:
        for ev in trainer.run(checkpoint=args.checkpoint):
            if isinstance(ev, TrainProgress) and not quiet:
                width = 30
                fill = int(round(ev.fraction * width))
                out.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {ev.step}/{ev.steps} "
                          f"loss {ev.loss:.4f} lr {ev.lr:.2e} {ev.steps_per_second:.1f} it/s "
                          f"{_fmt_time(ev.elapsed)} eta {_fmt_time(ev.eta)}   ")
                out.flush()
            elif isinstance(ev, TrainPreview) and not quiet:
                pass
            elif isinstance(ev, TrainFinished):
                finished = ev
    except KeyboardInterrupt:
        if args.checkpoint:
            with deferred_interrupt("saving the checkpoint, one moment"):
                trainer.save_checkpoint(args.checkpoint)
            print(f"\ninterrupted at step {trainer.step}; resume with --resume {args.checkpoint}",
                  file=out)
        raise
    if not quiet:
        out.write("\n")
    with deferred_interrupt("saving, one moment"):
        if args.checkpoint:
            trainer.save_checkpoint(args.checkpoint)
        if args.library:
            from ...core.library import new_model_path
            args.out = str(new_model_path(args.name or trainer.config.name or "model"))
        spec = trainer.export(args.out, name=args.name, preview=not args.no_preview)
    if not quiet:
        print(f"saved {args.out}: {spec.name or 'model'}, {finished.step} steps, loss "
              f"{finished.loss:.4f}, {finished.elapsed:.1f}s training", file=out)
    return 0

"""`studio train CONFIG.json --out MODEL.safetensors | --library`: train a model.

Under ``torchrun --nproc_per_node N -m studio train ...`` it trains data-parallel (gloo on CPUs,
NCCL on GPUs): every process takes its shard of the same global batch and the gradients are
averaged, so N processes reach the weights one process reaches (see
:mod:`studio.core.training.distributed`); rank 0 writes the model, checkpoints and progress.
"""
from __future__ import annotations

import sys

NAME = "train"
HELP = "train a model from a training configuration (studio.train/1) and save the model file"


def add_arguments(p) -> None:
    p.add_argument("config", help="training configuration JSON (studio.train/1)")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", help="model file to write (.safetensors); with --grid, a folder")
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
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a hyperparameter grid axis (repeatable): a dotted config key and its "
                   "values, e.g. optim.lr=1e-3,3e-3 or seed=0,1; --out is then a folder")
    p.add_argument("--executor", default="local", choices=("local", "processes", "ray"),
                   help="where a --grid's trainings run (default local)")
    p.add_argument("--address", help="Ray cluster HOST:PORT for --executor ray")
    p.add_argument("--workers", type=int, help="processes (or local Ray CPUs) for a --grid")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _fmt_time(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run(args) -> int:
    import torch

    from ...core.errors import StudioError

    if args.grid:
        return _grid(args)
    if args.executor != "local" or args.address:
        raise StudioError("--executor and --address go with --grid (a single training runs "
                          "data-parallel under torchrun instead)", "--executor")
    if args.out and not args.out.lower().endswith(".safetensors"):
        raise StudioError("the model file must end in .safetensors", "--out")
    if args.out:
        from ...core.atomic import check_output
        check_output(args.out, "--out", mkdir=args.mkdir)
    if args.threads:
        torch.set_num_threads(args.threads)
    from ...core.training.distributed import from_env

    dist, device = from_env(args.device)
    try:
        return _train(args, dist, device)
    finally:
        dist.close()


def _grid(args) -> int:
    import os

    from ...core.errors import StudioError
    from ...core.training.config import TrainConfig
    from ...core.training.grid import parse_grid, run_grid

    if not args.out or args.library or args.resume:
        raise StudioError("a --grid writes into a folder: give --out DIR (no --library/--resume)",
                          "--out")
    cfg = TrainConfig.load(args.config)
    if args.steps is not None:
        cfg.optim.steps = args.steps
    if args.seed is not None:
        cfg.seed = args.seed
    axes = [parse_grid(g) for g in args.grid]
    log = None if args.quiet else (lambda m: print(m, file=sys.stderr))
    if log:
        n = 1
        for _, v in axes:
            n *= len(v)
        log(f"training grid: {n} runs on {args.executor}")
    table = run_grid(cfg.to_dict(), axes, args.out, cfg.base_dir, args.executor, args.address,
                     args.workers, args.device, log)
    if log:
        for r in table:
            log(f"  {r['label']}: loss {r['loss']:.4f}, {r['steps']} steps, {r['seconds']:.1f}s "
                f"-> {os.path.basename(r['model'])}")
        log(f"wrote {os.path.join(args.out, 'grid.json')}")
    return 0


def _train(args, dist, device) -> int:
    from ...core.training import (TrainConfig, Trainer, TrainFinished, TrainPreview,
                                  TrainProgress)
    from ..safety import deferred_interrupt

    if args.resume:
        if dist.world > 1:
            from ...core.errors import StudioError
            raise StudioError("resuming a checkpoint under torchrun is not supported yet; resume "
                              "in one process", "--resume")
        trainer = Trainer.resume(args.resume, device, steps=args.steps)
    else:
        cfg = TrainConfig.load(args.config)
        if args.steps is not None:
            cfg.optim.steps = args.steps
        if args.seed is not None:
            from ...core.untrusted import check_seed
            cfg.seed = check_seed(args.seed, "--seed")
        trainer = Trainer(cfg, device, dist=dist)
        dist.shard(cfg.optim.batch)  # a batch that does not split fails before training
    if not dist.main:
        args.checkpoint = None
    out = sys.stderr
    quiet = args.quiet or not dist.main
    if not quiet:
        cfg = trainer.config
        params = sum(p.numel() for p in trainer.model.net.parameters())
        print(f"training {cfg.name or args.config}: {cfg.architecture['id']} ({params:,} "
              f"parameters), {cfg.objective.target} on {cfg.process['kind']}, data "
              f"{cfg.data['kind']} {list(trainer.data.shape)} x {len(trainer.x)}"
              + (f", {trainer.num_classes} classes" if trainer.num_classes else "")
              + (f", data-parallel over {dist.world} processes ({dist.backend})"
                 if dist.world > 1 else ""), file=out)
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
    if not dist.main:
        dist.barrier()
        return 0
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
    dist.barrier()
    return 0

#!/usr/bin/env python
"""Train the models that ship with the studio (reproducible: every seed is in the configs).

    python scripts/train_bundled.py                      # all of them
    python scripts/train_bundled.py --only moons digits  # some
    python scripts/train_bundled.py --threads 2          # torch CPU threads (default 1)

Configurations: scripts/bundled/NAME.json (format studio.train/1; `studio train` takes them too).
``moons-flow-map`` is a few-step flow map distilled from ``moons`` (its teacher pipeline is
scripts/bundled/moons-teacher.json), so it is trained after it; ``digits-flow-map`` is a
consistency model distilled from ``digits`` (started from its weights), trained after it.
Models are written to studio/assets/models/NAME.safetensors (package data: pipelines name them
assets:NAME.safetensors). Training times go to benchmarks/results/train_bundled.json: wall-clock
seconds of the training steps and the process's CPU seconds (with one thread, CPU seconds are what
the wall clock would read on an idle core; on a shared machine the wall clock is longer).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ORDER = ["moons", "gaussians", "swiss-roll", "checkerboard", "pinwheel", "digits",
         "digits-classifier", "moons-flow-map", "digits-weak", "digits-flow-map"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", help="names of scripts/bundled/*.json to train")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "studio", "assets", "models"))
    ap.add_argument("--refresh-previews", action="store_true",
                    help="only re-render the previews of the existing model files")
    ap.add_argument("--results", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "train_bundled.json"))
    args = ap.parse_args()

    import torch

    from studio.core.training import TrainConfig, Trainer, TrainFinished, TrainProgress

    torch.set_num_threads(args.threads)
    names = args.only or ORDER
    if args.refresh_previews:
        from studio.core.modelfile import save_model
        from studio.core.networks.file import FileNetwork
        from studio.core.training.preview import model_preview_png
        for name in names:
            path = os.path.join(args.out_dir, f"{name}.safetensors")
            if name.endswith("-classifier"):
                print(f"{name}: a classifier's preview is made when it is trained", flush=True)
                continue
            net = FileNetwork(path=path)
            seed = net.spec.training.get("seed", 0) + 3
            net.spec.preview_png = model_preview_png(net, net.trained_process, seed=seed)
            save_model(path, net.model.net.state_dict(), net.spec)
            print(f"{name}: preview {len(net.spec.preview_png)} bytes", flush=True)
        return 0
    results = {}
    if os.path.exists(args.results):
        with open(args.results) as fh:
            results = json.load(fh).get("models", {})
    os.makedirs(args.out_dir, exist_ok=True)
    for name in names:
        cfg_path = os.path.join(ROOT, "scripts", "bundled", f"{name}.json")
        cfg = TrainConfig.load(cfg_path)
        trainer = Trainer(cfg, args.device)
        params = sum(p.numel() for p in trainer.model.net.parameters())
        print(f"== {name}: {cfg.architecture['id']} {params:,} parameters, {cfg.optim.steps} steps "
              f"x batch {cfg.optim.batch}", flush=True)
        wall = time.perf_counter()
        cpu = time.process_time()
        for ev in trainer.run():
            if isinstance(ev, TrainProgress) and (ev.step % (10 * cfg.log_every) == 0
                                                  or ev.step == ev.steps):
                print(f"  step {ev.step:>6}/{ev.steps} loss {ev.loss:.4f} "
                      f"{ev.steps_per_second:6.1f} it/s {ev.elapsed:7.1f}s", flush=True)
            elif isinstance(ev, TrainFinished):
                fin = ev
        cpu = time.process_time() - cpu
        out = os.path.join(args.out_dir, f"{name}.safetensors")
        trainer.export(out)
        wall = time.perf_counter() - wall
        size = os.path.getsize(out)
        print(f"  -> {os.path.relpath(out, ROOT)} ({size / 1e6:.2f} MB), training {fin.elapsed:.1f}s"
              f" wall, {cpu:.1f}s CPU; total with export {wall:.1f}s", flush=True)
        results[name] = {"file": os.path.relpath(out, ROOT), "parameters": params,
                         "size_bytes": size, "steps": fin.step, "batch": cfg.optim.batch,
                         "final_loss": fin.loss, "train_seconds": round(fin.elapsed, 1),
                         "train_cpu_seconds": round(cpu, 1),
                         "wall_seconds": round(wall, 1), "threads": args.threads,
                         "device": args.device}
        os.makedirs(os.path.dirname(args.results), exist_ok=True)
        with open(args.results, "w") as fh:
            json.dump({"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                   "torch": torch.__version__},
                       "models": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A hyperparameter grid of trainings, run locally, on a process pool or as Ray tasks.

    studio train config.json --grid optim.lr=1e-3,3e-3 --grid seed=0,1 \
        --executor ray [--address HOST:PORT] --out runs/

Each grid axis is a dotted key of the training configuration (``optim.lr``, ``seed``,
``architecture.params.width``, ``objective.target`` ...) and its values; the grid is their product.
Every variant is validated (as a whole ``studio.train/1`` config) before anything trains, an error
naming the axis. A variant trains exactly as ``studio train`` of its config would (one torch
thread per worker), and comes back as the model file's bytes with its final loss; the driver
writes ``<out>/<label>.safetensors``, each variant's ``config.json`` and ``grid.json`` (the
table). Data files a config names must be readable where the task runs (a shared file system).
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import tempfile
import time
from typing import Any

from ..errors import ParamError, StudioError


def parse_grid(text: str, where: str = "--grid") -> tuple[str, list]:
    """``optim.lr=1e-3,3e-3`` -> ("optim.lr", [0.001, 0.003])."""
    from ..compare.axes import _json_or_str, split_values

    if "=" not in text:
        raise ParamError(f"cannot read {text!r}; write key.path=v1,v2,...", where)
    key, rest = (p.strip() for p in text.split("=", 1))
    values = [_json_or_str(v) for v in split_values(rest)]
    if not key or not values:
        raise ParamError(f"{text!r}: give a key and at least one value", where)
    return key, values


def _set(d: dict, key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise ParamError(f"{p!r} is not a section of the configuration", where)
        cur = nxt
    cur[parts[-1]] = copy.deepcopy(value)


def _label(key: str, value: Any) -> str:
    v = f"{value:g}" if isinstance(value, float) else value if isinstance(value, str) \
        else json.dumps(value)
    return f"{key.split('.')[-1]}={v}"


def grid_configs(config: dict, axes: list[tuple[str, list]], base_dir: str = "") -> list[tuple[str, dict]]:
    """(label, config dict) per grid point; every variant validated, errors naming the axis."""
    from .config import TrainConfig

    keys = [k for k, _ in axes]
    if len(set(keys)) != len(keys):
        raise ParamError("a key appears twice", "--grid")
    out = []
    for combo in itertools.product(*(range(len(v)) for _, v in axes)):
        d = copy.deepcopy(config)
        parts = []
        for (key, values), j in zip(axes, combo):
            _set(d, key, values[j], f"--grid {key}")
            parts.append(_label(key, values[j]))
        label = ",".join(parts) or "base"
        try:
            TrainConfig.from_dict(d, base_dir, f"--grid {label}")
        except StudioError as exc:
            bad = next((k for k in keys if k.split(".")[0] in (exc.where or "")), keys[0] if keys else "")
            raise ParamError(exc.problem, f"--grid {bad} ({label})"
                             + (f": {exc.where.split(': ', 1)[-1]}" if exc.where else "")) from None
        out.append((label, d))
    return out


def train_variant(config: dict, base_dir: str = "", device: str = "cpu") -> dict:
    """Train one variant in this process; its model file's bytes, final loss and timing."""
    import torch

    from .config import TrainConfig
    from .trainer import Trainer

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    tr = Trainer(TrainConfig.from_dict(config, base_dir, "grid"), device)
    for _ in tr.run():
        pass
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.safetensors")
        tr.export(path, preview=False)
        with open(path, "rb") as fh:
            data = fh.read()
    return {"model": data, "loss": tr.recent_loss(), "steps": tr.step,
            "seconds": time.perf_counter() - t0, "pid": os.getpid()}


def run_grid(config: dict, axes: list[tuple[str, list]], out: str, base_dir: str = "",
             executor: str = "local", address: str | None = None, workers: int | None = None,
             device: str = "cpu", log=None) -> list[dict]:
    """Train every grid point on ``executor`` and write the models, configs and grid.json."""
    variants = grid_configs(config, axes, base_dir)
    os.makedirs(out, exist_ok=True)
    results: dict[int, dict] = {}
    if executor == "local":
        for i, (label, d) in enumerate(variants):
            results[i] = train_variant(d, base_dir, device)
            if log:
                log(f"  {label}: loss {results[i]['loss']:.4f}")
    elif executor == "processes":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers or os.cpu_count(), mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(train_variant, d, base_dir, device): i
                    for i, (_, d) in enumerate(variants)}
            for f, i in futs.items():
                results[i] = f.result()
    elif executor == "ray":
        from ..compare.rayexec import RayExecutor

        ex = RayExecutor(address, workers=workers)
        task = ex.ray.remote(num_cpus=1, max_retries=2)(train_variant)
        try:
            refs = [task.remote(d, base_dir, device) for _, d in variants]
            for i, r in enumerate(refs):
                results[i] = ex.ray.get(r)
        finally:
            ex.close()
    else:
        raise ParamError(f"unknown executor {executor!r}; valid: local, processes, ray", "--executor")
    table = []
    for i, (label, d) in enumerate(variants):
        r = results[i]
        safe = "".join(ch if ch.isalnum() or ch in "-_.=," else "_" for ch in label)
        path = os.path.join(out, f"{safe}.safetensors")
        with open(path, "wb") as fh:
            fh.write(r["model"])
        with open(os.path.join(out, f"{safe}.config.json"), "w", encoding="utf-8") as fh:
            json.dump(d, fh, indent=1)
        table.append({"label": label, "model": path, "loss": r["loss"], "steps": r["steps"],
                      "seconds": round(r["seconds"], 3),
                      "values": {k: v for (k, vals), v in zip(axes, _values(axes, i))}})
    with open(os.path.join(out, "grid.json"), "w", encoding="utf-8") as fh:
        json.dump({"format": "studio.train-grid/1", "executor": executor, "runs": table}, fh, indent=1)
    return table


def _values(axes, index: int) -> list:
    combos = list(itertools.product(*(v for _, v in axes)))
    return list(combos[index]) if combos else []


__all__ = ["parse_grid", "grid_configs", "train_variant", "run_grid"]

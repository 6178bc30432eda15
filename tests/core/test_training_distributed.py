"""Data-parallel `studio train` under torchrun: two gloo processes on this machine reach the
weights one process reaches with the same global batch (to 1e-5)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from studio.cli.main import main
from studio.core.errors import StudioError
from studio.core.training import TrainConfig, Trainer
from studio.core.training.distributed import DistContext

from .test_training_cli import CONFIG

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_shards_split_the_global_batch():
    parts = [DistContext(rank=r, world=4).shard(32) for r in range(4)]
    assert [(p.start, p.stop) for p in parts] == [(0, 8), (8, 16), (16, 24), (24, 32)]
    with pytest.raises(StudioError, match="optim.batch: the global batch 30 does not split"):
        DistContext(rank=0, world=4).shard(30)


def test_two_processes_match_one(tmp_path):
    cfg = dict(CONFIG, optim={"steps": 6, "batch": 32, "lr": 3e-3}, log_every=2)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    one, two = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", str(path), "--out", str(one), "--quiet", "--no-preview"]) == 0
    finally:
        torch.set_num_threads(n)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "studio", "train", str(path), "--out", str(two), "--no-preview", "--threads", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "data-parallel over 2 processes (gloo)" in proc.stderr
    a, b = load_file(str(one)), load_file(str(two))
    assert a.keys() == b.keys() and len(a) > 2
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    assert worst < 1e-5, worst
    # and the weights moved from their initial values: training really happened on both sides
    init = Trainer(TrainConfig.from_dict(cfg)).ema.net.state_dict()
    moved = max(float((a[k].double() - init[k].double()).abs().max()) for k in a)
    assert moved > 1e-4 and moved > 100 * worst, (moved, worst)

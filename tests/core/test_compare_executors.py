"""Executors: a sweep's results are identical on `local`, `processes` and `ray`; a worker killed
mid-sweep is retried and reported; a cancelled sweep stops. ONE local Ray instance (2 CPUs,
localhost, no dashboard) serves the whole module."""
from __future__ import annotations

import time

import pytest
import torch

from studio.core.compare import CompareSpec, ComparisonRun
from studio.core.compare.axes import Axis
from studio.core.compare.executors import ProcessExecutor, make_executor
from studio.core.errors import Cancelled, ParamError
from studio.core.pipeline import Pipeline
from studio.core.runner import CancelToken

from .test_compare_engine import pipeline_dict

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    from studio.core.compare.rayexec import start_local_ray

    started = not ray.is_initialized()
    if started:
        start_local_ray(2)
    yield ray
    if started:
        ray.shutdown()


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


def spec(tmp=None):
    pipe = Pipeline.from_dict(pipeline_dict(batch=16))
    # a stochastic solver (branch-seeded noise) and a seed axis: 2 x 2 x 2 = 8 cells
    return CompareSpec.from_pipeline(pipe, [2, 6], ["heun", "ddim:eta=1"],
                                     axes=[Axis("run.seed", [1, 2])],
                                     metrics=["rmse", "swd", "nfe"], n_data=300)


def check_same(a, b):
    assert a.table() == b.table()
    assert a.floors == b.floors
    for i, r in a.results.items():
        if r.samples is None:
            assert b.results[i].samples is None
        else:
            assert torch.equal(r.samples, b.results[i].samples), i
    assert a.references.keys() == b.references.keys()


def test_results_identical_across_executors(local_ray, tmp_path):
    """local, processes and ray agree exactly; on the pool, a worker killed mid-sweep breaks the
    pool, which is rebuilt, the unfinished cells resubmitted and the event noted."""
    local = ComparisonRun(spec()).run()
    assert sum(r.ok for r in local.results.values()) == 6  # heun @ 2 skipped, per seed
    pool = ProcessExecutor(workers=1)  # (ray below runs two at once, out of order)
    pool.kill_once = {"index": 3, "marker": str(tmp_path / "killed")}
    try:
        procs = ComparisonRun(spec(), executor=pool).run()
    finally:
        pool.close()
    assert (tmp_path / "killed").exists()
    assert any("a pool worker died" in n and "3" in n for n in procs.notes)
    check_same(local, procs)
    rayc = ComparisonRun(spec(), executor="ray").run()
    check_same(local, rayc)
    assert rayc.finished and not rayc.notes
    with pytest.raises(ParamError, match="unknown executor 'dask'"):
        make_executor("dask")


def test_killed_ray_worker_is_retried_and_reported(local_ray, tmp_path):
    ex = make_executor("ray")
    ex.kill_once = {"index": 5, "marker": str(tmp_path / "killed")}
    comp = ComparisonRun(spec(), executor=ex).run()
    assert (tmp_path / "killed").exists()  # the worker really died
    assert comp.finished and len(comp.results) == 8
    assert any(n.startswith("cell 5: worker died (WorkerCrashedError)") for n in comp.notes)
    check_same(ComparisonRun(spec()).run(), comp)


def test_cancel_stops_ray_tasks(local_ray):
    token = CancelToken()
    pipe = Pipeline.from_dict(pipeline_dict(batch=16))
    big = CompareSpec.from_pipeline(pipe, [100], ["euler"],
                                    axes=[Axis("run.seed", list(range(8)))],
                                    metrics=["nfe"], n_data=100)
    run = ComparisonRun(big, executor="ray", cancel=token)
    got = []
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        for res in run:
            got.append(res)
            token.cancel()
    assert len(got) == 1 and len(run.comparison.results) == 1
    assert time.perf_counter() - t0 < 60
    # the cluster is free again at once: a small sweep runs right after
    assert ComparisonRun(spec(), executor="ray").run().finished


def test_cli_executor_ray_matches_local(local_ray, tmp_path):
    """`studio compare --executor ray` (the module's Ray instance) writes the local table; model
    files named by the pipeline travel with the tasks."""
    import json

    from studio.cli.main import main

    pts = tmp_path / "pts.npy"
    import numpy as np
    np.save(pts, np.random.default_rng(0).normal(size=(64, 2)))
    d = pipeline_dict(net=("empirical", {"data": "pts.npy"}), batch=8)
    (tmp_path / "p.json").write_text(json.dumps(d))
    outs = {}
    for ex in ("local", "ray"):
        out = tmp_path / ex
        assert main(["compare", str(tmp_path / "p.json"), "--solvers", "euler", "--nfe", "3,5",
                     "--axis", "run.seed=0,1", "--metrics", "rmse,swd", "--executor", ex,
                     "--out", str(out), "--quiet", "--no-plots"]) == 0
        outs[ex] = (out / "table.csv").read_text()
        samples = np.load(out / "samples.npz")
        outs[ex + "-samples"] = {k: samples[k] for k in samples.files}
    assert outs["local"] == outs["ray"]
    for k, v in outs["local-samples"].items():
        np.testing.assert_array_equal(v, outs["ray-samples"][k])
    assert main(["compare", str(tmp_path / "p.json"), "--nfe", "3", "--executor", "ray",
                 "--address", "nohostport", "--out", str(tmp_path / "x"), "--quiet"]) == 2


def test_training_grid_on_ray_equals_studio_train(local_ray, tmp_path):
    """`studio train --grid ... --executor ray`: every run's model equals `studio train` of its
    config in this process; a bad grid value fails before any training, naming the axis."""
    import json

    from safetensors.torch import load_file

    from studio.cli.main import main
    from studio.core.training.grid import grid_configs, parse_grid

    from .test_training_cli import CONFIG

    cfg = dict(CONFIG, optim={"steps": 4, "batch": 16})
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    out = tmp_path / "grid"
    assert main(["train", str(path), "--grid", "optim.lr=0.001,0.003", "--executor", "ray",
                 "--out", str(out), "--quiet"]) == 0
    table = json.loads((out / "grid.json").read_text())["runs"]
    assert [r["label"] for r in table] == ["lr=0.001", "lr=0.003"]
    for r in table:
        direct = tmp_path / f"{r['label']}.safetensors"
        (tmp_path / "v.json").write_text((out / f"{r['label']}.config.json").read_text())
        torch.set_num_threads(1)
        assert main(["train", str(tmp_path / "v.json"), "--out", str(direct), "--quiet",
                     "--no-preview"]) == 0
        a, b = load_file(r["model"]), load_file(str(direct))
        assert all(torch.equal(a[k], b[k]) for k in a)
    a, b = (load_file(r["model"]) for r in table)
    assert not all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ParamError, match="--grid optim.batch"):
        grid_configs(cfg, [parse_grid("optim.batch=16,0")])
    assert main(["train", str(path), "--grid", "architecture.params.width=8,x", "--out",
                 str(tmp_path / "bad"), "--quiet"]) == 2
    assert not (tmp_path / "bad" / "grid.json").exists()

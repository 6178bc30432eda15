"""The comparison engine: cells equal direct runs, references are exact, streaming and cancel,
metrics, and the studio.compare/1 file."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from studio.cli.main import main
from studio.core.compare import (CompareSpec, Comparison, ComparisonRun, parse_schedule,
                                 parse_solver)
from studio.core.compare import distances
from studio.core.compare.metrics import METRICS, resolve_metrics
from studio.core.compare.reference import Adaptive, ClosedForm, ReferenceTask
from studio.core.errors import Cancelled, ParamError, StudioError
from studio.core.model import Denoiser
from studio.core.pipeline import Pipeline
from studio.core.runner import CancelToken

from .helpers import GAUSS, network, prior, process

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


GMM2 = {"means": [[-2.0, 0.0], [2.0, 1.0]], "vars": [[0.3, 0.1], [0.2, 0.4]], "weights": [0.4, 0.6]}


def pipeline_dict(net=("gmm", GMM2), proc=("edm", {}), batch=48, seed=3):
    return {"format": "studio.pipeline/1",
            "nodes": {"p": {"type": "process", "kind": proc[0], "params": proc[1]},
                      "n": {"type": "network", "kind": net[0], "params": net[1]},
                      "s": {"type": "solver", "kind": "euler", "params": {"nfe": 10}}},
            "links": [["p", "n"], ["n", "s"]],
            "run": {"batch": batch, "seed": seed, "dtype": "float64"}}


def write(tmp_path, d, name="pipe.json"):
    path = tmp_path / name
    path.write_text(json.dumps(d))
    return str(path)


def test_cli_cells_equal_studio_run(tmp_path):
    """Every cell's samples equal `studio run` on the cell's pipeline, bit for bit (a stochastic
    solver included), and the table's RMSE is the RMSE of those samples to the saved reference."""
    pipe = write(tmp_path, pipeline_dict())
    out = tmp_path / "cmp"
    rc = main(["compare", pipe, "--solvers", "euler,heun,ddim:eta=1", "--nfe", "4,9",
               "--schedules", "karras,logsnr", "--out", str(out), "--no-plots", "--quiet",
               "--n-data", "500"])
    assert rc == 0
    for name in ("table.csv", "table.json", "comparison.json", "samples.npz"):
        assert (out / name).exists(), name
    saved = np.load(out / "samples.npz")
    comp = Comparison.load(str(out / "comparison.json"))
    with open(out / "table.csv") as fh:
        rows = {(r["row"], r["nfe_budget"]): r for r in csv.DictReader(fh)}
    assert len(comp.results) == 3 * 2 * 2
    checked = 0
    for cell in comp.spec.cells():
        res = comp.results[cell.index]
        if res.status != "ok":
            assert cell.solver.kind == "heun" and cell.nfe == 4 or res.status == "ok"
            continue
        cell_json = write(tmp_path, comp.spec.cell_pipeline(cell).to_dict(), f"cell{cell.index}.json")
        npz = tmp_path / f"cell{cell.index}.npz"
        assert main(["run", cell_json, "--out", str(npz), "--quiet"]) == 0
        direct = np.load(npz)[f"{cell.solver.branch}.samples"]
        np.testing.assert_array_equal(direct, saved[cell.key])
        ref = comp.reference_for(res).samples.numpy()
        rmse = float(np.sqrt(np.mean((direct - ref) ** 2)))
        row = rows[(cell.row_label, str(cell.nfe))]
        assert float(row["rmse"]) == pytest.approx(rmse, rel=1e-9)
        assert int(float(row["nfe"])) == int(np.load(npz)[f"{cell.solver.branch}.nfe"])
        checked += 1
    assert checked >= 10


def test_adaptive_reference_is_exact_on_gaussian():
    """The adaptive reference matches the closed-form Gaussian ODE solution (both final-denoised)."""
    proc, net = process("edm"), network("gaussian", **GAUSS)
    x_T = prior(proc, 64)
    den = Denoiser(net, proc)
    task = ReferenceTask(den, x_T, proc.t_max, proc.t_min, True)
    exact = ClosedForm().compute(task).samples
    approx = Adaptive(rtol=1e-9, atol=1e-9, integrator="builtin").compute(task)
    assert float((approx.samples - exact).abs().max()) < 1e-6
    assert approx.nfe > 50


def test_stream_progress_and_cancel():
    pipe = Pipeline.from_dict(pipeline_dict(batch=16))
    spec = CompareSpec.from_pipeline(pipe, [3, 6], ["euler", "dpm-solver++-2m"], n_data=500)
    token = CancelToken()
    events = []
    run = ComparisonRun(spec, cancel=token, on_progress=events.append)
    got = []
    with pytest.raises(Cancelled):
        for res in run:
            got.append(res)
            token.cancel()
    assert len(got) == 1 and got[0].ok
    assert list(run.comparison.results) == [0]
    assert any(e.step is not None for e in events) and all(0 <= e.fraction <= 1 for e in events)


def test_file_round_trip_and_redraw(tmp_path):
    pipe = Pipeline.from_dict(pipeline_dict(batch=32))
    spec = CompareSpec.from_pipeline(pipe, [2, 5], ["heun", "euler"], metrics=["rmse", "swd", "nfe"], n_data=500)
    comp = ComparisonRun(spec).run()
    heun2 = comp.cell_result(0, 0)
    assert heun2.status == "skipped" and "too small" in heun2.message
    path = str(tmp_path / "c.json")
    comp.save(path)
    again = Comparison.load(path)
    assert again.table() == comp.table()
    assert again.floors == pytest.approx(comp.floors)
    for i, r in comp.results.items():
        if r.samples is not None:
            assert torch.equal(again.results[i].samples, r.samples)
            assert torch.equal(again.reference_for(again.results[i]).samples,
                               comp.reference_for(r).samples)
    assert torch.equal(again.data, comp.data)
    # the saved comparison re-runs to the same numbers
    rerun = ComparisonRun(again.spec).run()
    assert rerun.table() == comp.table()  # (no timing metric in this spec)


def test_metric_floors_and_distances():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    y = torch.randn(5, 3, generator=g, dtype=torch.float64)
    assert distances.sliced_wasserstein(x, x) == 0.0
    # the same seed gives the same directions: a fixed yardstick for every cell
    assert distances.sliced_wasserstein(x, y, 64, 3) == distances.sliced_wasserstein(x, y, 64, 3)
    assert distances.mmd(x, x) == pytest.approx(0.0, abs=1e-7)
    a = torch.eye(3, dtype=torch.float64)
    assert distances.frechet_distance((torch.zeros(3), a), (torch.ones(3), a)) == pytest.approx(3.0)
    # a 2-NFE Euler run scores worse than the data-vs-data floor; the floor is small
    pipe = Pipeline.from_dict(pipeline_dict(batch=200))
    comp = ComparisonRun(CompareSpec.from_pipeline(pipe, [2], ["euler"], n_data=400)).run()
    r = comp.results[0]
    for mid in ("swd", "mmd"):
        assert comp.floors[mid] < r.metrics[mid]
    assert r.metrics["nfe"] == 2


def test_metric_registry_and_errors(tmp_path):
    assert {"rmse", "swd", "mmd", "nfe", "ms-per-sample", "classifier-accuracy",
            "frechet-distance"} <= set(METRICS.ids())
    with pytest.raises(StudioError, match="metrics\\[0\\]"):
        resolve_metrics(["nope"])
    with pytest.raises(ParamError, match="unknown parameter"):
        resolve_metrics([{"id": "swd", "params": {"bins": 3}}])
    with pytest.raises(ParamError, match="--solvers"):
        parse_solver("ddim:steps=3")
    assert parse_schedule("karras:rho=3").params == {"rho": 3}
    pipe = write(tmp_path, pipeline_dict())
    assert main(["compare", pipe, "--solvers", "nope", "--nfe", "4", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    assert main(["compare", pipe, "--solvers", "euler", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2


def test_pipeline_solvers_default_and_data_file(tmp_path):
    """Without --solvers the pipeline's solver nodes are the rows (their node ids as branches);
    --data points at a .npy for the distribution metrics."""
    d = pipeline_dict(batch=40)
    d["nodes"]["s"]["kind"] = "ddim"
    d["nodes"]["s"]["params"] = {"nfe": 10, "eta": 1.0, "schedule": "karras", "rho": 5}
    path = write(tmp_path, d)
    data = network("gmm", **GMM2).sample(300, torch.Generator().manual_seed(1)).numpy()
    np.save(tmp_path / "data.npy", data)
    out = tmp_path / "o"
    assert main(["compare", path, "--nfe", "6", "--data", str(tmp_path / "data.npy"), "--out",
                 str(out), "--no-plots", "--quiet"]) == 0
    table = json.loads((out / "table.json").read_text())
    assert table["rows"][0]["row"] == "s / karras(rho=5)"
    assert "data.npy" in table["data"] and table["floors"]["swd"] > 0
    # the single row is the pipeline's own branch: same samples as `studio run` with nfe 6
    d["nodes"]["s"]["params"]["nfe"] = 6
    assert main(["run", write(tmp_path, d, "p6.json"), "--out", str(tmp_path / "r.npz"),
                 "--quiet"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "r.npz")["s.samples"],
                                  np.load(out / "samples.npz")["s / karras(rho=5) @ 6"])


def test_png_outputs(tmp_path):
    pipe = write(tmp_path, pipeline_dict(batch=64))
    out = tmp_path / "png"
    assert main(["compare", pipe, "--solvers", "euler,dpm-solver++-2m", "--nfe", "3,6",
                 "--out", str(out), "--quiet", "--n-data", "500"]) == 0
    from PIL import Image

    for name in ("grid.png", "error_vs_nfe.png"):
        im = Image.open(out / name)
        assert im.size[0] > 400 and im.size[1] > 300
        assert len(np.unique(np.asarray(im.convert("L")))) > 20  # not blank
    # a saved comparison redraws without running
    out2 = tmp_path / "redraw"
    assert main(["compare", str(out / "comparison.json"), "--out", str(out2), "--quiet"]) == 0
    assert (out2 / "grid.png").exists()
    assert (out2 / "table.csv").read_text() == (out / "table.csv").read_text()


def test_registered_dopri5_and_builtin_references_agree():
    from studio.core.registry import SOLVERS

    if "dopri5" not in SOLVERS:
        pytest.skip("no dopri5 solver registered")
    proc, net = process("vp-linear"), network("gmm", **GMM2)
    task = ReferenceTask(Denoiser(net, proc), prior(proc, 64), proc.t_max, proc.t_min, True)
    a = Adaptive(integrator="builtin").compute(task)
    b = Adaptive(integrator="dopri5").compute(task)
    assert "registered dopri5" in b.method and "built-in" in a.method
    assert float((a.samples - b.samples).abs().max()) < 1e-9


def test_solver_reference_and_image_grid(tmp_path):
    """A user-chosen high-NFE reference (as for trained models), and image data: tiles in the
    grid, the low-D distances reported as not applicable."""
    from studio.cli.commands.compare import parse_reference
    from studio.render.compare_plots import save_grid

    ref = parse_reference("solver:heun:nfe=201:schedule=karras")
    assert ref == {"kind": "solver", "params": {"solver": "heun",
                                                "params": {"nfe": 201, "schedule": "karras"}}}
    imgs = torch.tanh(torch.randn(200, 1, 5, 5, generator=torch.Generator().manual_seed(0)))
    np.save(tmp_path / "imgs.npy", imgs.numpy())
    d = pipeline_dict(net=("gaussian", {"data": str(tmp_path / "imgs.npy")}), proc=("vp-linear", {}),
                      batch=16)
    spec = CompareSpec.from_pipeline(Pipeline.from_dict(d), [4], ["dpm-solver++-2m"],
                                     reference=ref, n_data=100)
    comp = ComparisonRun(spec).run()
    r = comp.results[0]
    assert comp.reference_for(r).method.startswith("heun") and comp.reference_for(r).nfe == 201
    assert {"swd", "mmd"} <= set(comp.unavailable) and r.metrics["rmse"] > 0
    im = save_grid(comp, str(tmp_path / "grid.png"))
    from PIL import Image

    assert Image.open(im).size[0] > 400

"""Any-axis sweeps: node params, run settings and swapped nodes cross the solver x NFE grid; every
cell equals `studio run` of its pipeline; bad axes fail before anything runs, naming the axis;
the studio.compare/1 file keeps opening (old files too) and the table/plots handle any axis."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.cli.main import main
from studio.core.compare import CompareSpec, Comparison, ComparisonRun
from studio.core.compare.axes import Axis, parse_axis, split_values
from studio.core.errors import ParamError, StudioError
from studio.core.pipeline import Pipeline

from .test_compare_engine import GMM2, pipeline_dict, write


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


def test_parse_axis_values():
    assert split_values("1,[0, 1],{\"a\": 2},x") == ["1", "[0, 1]", "{\"a\": 2}", "x"]
    a = parse_axis("cfg.scale=1,2.5,4")
    assert a.kind == "param" and a.values == [1, 2.5, 4] and a.labels == ["1", "2.5", "4"]
    a = parse_axis("run.labels=3,[0,1,0,1]")
    assert a.kind == "run" and a.values == [3, [0, 1, 0, 1]]
    a = parse_axis("model=gaussian:mean=[0,0]:cov=[[1,0],[0,1]],gmm")
    assert a.kind == "node" and a.values[0] == {"kind": "gaussian",
                                                 "params": {"mean": [0, 0], "cov": [[1, 0], [0, 1]]}}
    assert a.values[1] == {"kind": "gmm", "params": {}}
    with pytest.raises(ParamError, match="--axis"):
        parse_axis("cfg.scale")


@pytest.mark.parametrize("axis, match", [
    ("nope.scale=1,2", "axis nope.scale: unknown node 'nope'"),
    ("p.bogus=1,2", "axis p.bogus: edm \\(p\\) has no parameter 'bogus'"),
    ("p.sigma_max=80,-1", "axis p.sigma_max = -1: -1.0 is below the minimum"),
    ("run.batch=4,0", "axis run.batch = 0"),
    ("run.dtype=float32", "axis run.dtype: unknown run setting"),
    ("run.labels=1,[0,1,2]", "axis run.labels = \\[0, 1, 2\\]: 3 labels for a batch of 8"),
    ("s.eta=0,1", "axis s.eta: .*no parameter|axis s.eta"),
    ("euler.nfe=3,4", "axis euler.nfe: 'nfe' is set per cell"),
    ("p=edm,nosuchprocess", "axis p = nosuchprocess"),
    ("n=gmm:means=oops", "axis n = gmm"),
])
def test_bad_axes_fail_before_running(tmp_path, axis, match, capsys):
    """Unknown node / parameter, a value out of range or of the wrong kind: StudioError naming
    the axis, before any cell runs (no output folder is written)."""
    pipe = Pipeline.from_dict(pipeline_dict(batch=8))
    with pytest.raises(StudioError, match=match):
        CompareSpec.from_pipeline(pipe, [3], ["euler"], axes=[parse_axis(axis)])
    out = tmp_path / "o"
    rc = main(["compare", write(tmp_path, pipeline_dict(batch=8)), "--solvers", "euler",
               "--nfe", "3", "--axis", axis, "--out", str(out), "--quiet", "--no-plots"])
    assert rc == 2 and not out.exists()
    assert "axis" in capsys.readouterr().err


def test_axes_limit_and_duplicates():
    pipe = Pipeline.from_dict(pipeline_dict(batch=8))
    axes = [Axis("run.seed", [0, 1]), Axis("p.sigma_max", [40.0, 80.0]), Axis("p.sigma_min", [0.002]),
            Axis("run.batch", [4])]
    with pytest.raises(ParamError, match="at most 3"):
        CompareSpec.from_pipeline(pipe, [3], ["euler"], axes=axes)
    with pytest.raises(ParamError, match="axis run.seed: appears twice"):
        CompareSpec.from_pipeline(pipe, [3], ["euler"], axes=[Axis("run.seed", [0]),
                                                               Axis("run.seed", [1])])


def test_cli_axis_cells_equal_studio_run(tmp_path):
    """Three axes of three kinds (a process parameter, a run setting, a swapped network) and a
    solver parameter: every re-run cell equals `studio run` of its pipeline bit for bit, and the
    file, table and plots carry the axes."""
    gauss = json.dumps({"kind": "gaussian", "params": {"mean": [0.5, -1.0], "cov": [[1.0, 0.2], [0.2, 0.5]]}})
    pipe = write(tmp_path, pipeline_dict(batch=12))
    out = tmp_path / "cmp"
    rc = main(["compare", pipe, "--solvers", "euler,ddim", "--nfe", "5",
               "--axis", "p.sigma_max=20,80", "--axis", "run.seed=0,5",
               "--axis", f"n=gmm:means={json.dumps(GMM2['means'])}:vars={json.dumps(GMM2['vars'])}"
               f":weights={json.dumps(GMM2['weights'])},{gauss}",
               "--metrics", "rmse,swd,nfe", "--n-data", "300", "--out", str(out), "--quiet"])
    assert rc == 0
    comp = Comparison.load(str(out / "comparison.json"))
    spec = comp.spec
    assert [a.target for a in spec.axes] == ["p.sigma_max", "run.seed", "n"]
    assert len(comp.results) == 2 * 2 * 2 * 2 and all(r.ok for r in comp.results.values())
    assert (out / "grid.png").exists() and (out / "error_vs_nfe.png").exists()
    assert all((out / f"error_vs_{a}.png").exists() for a in ("p.sigma_max", "run.seed", "n"))
    saved = np.load(out / "samples.npz")
    # a few cells across the points: rebuilt pipelines run by `studio run`
    for idx in (0, 3, 6, 9, 15):
        cell = spec.cells()[idx]
        cj = write(tmp_path, spec.cell_pipeline(cell).to_dict(), f"cell{idx}.json")
        npz = tmp_path / f"cell{idx}.npz"
        assert main(["run", cj, "--out", str(npz), "--quiet"]) == 0
        np.testing.assert_array_equal(np.load(npz)[f"{cell.solver.branch}.samples"], saved[cell.key])
    # the points really differ (seed, network, sigma_max)
    c = spec.cells()
    assert not np.array_equal(saved[c[0].key], saved[c[4].key])      # run.seed
    assert not np.array_equal(saved[c[0].key], saved[c[2].key])      # network swapped
    assert not np.array_equal(saved[c[0].key], saved[c[8].key])      # sigma_max
    # the table names each cell's axis values; references are per point
    rows = comp.table()
    assert rows[0]["p.sigma_max"] == 20 and rows[0]["run.seed"] == 0 and rows[0]["n"] == "gmm(means=[[-2.0, 0.0], [2.0, 1.0]], vars=[[0.3, 0.1], [0.2, 0.4]], weights=[0.4, 0.6])"
    assert len({r.reference_key() for r in comp.results.values()}) == 8
    curves, ticks = comp.series_over("rmse", "n")
    assert len(curves) == 2 * 2 * 2 and ticks == {0.0: spec.axes[2].labels[0], 1.0: spec.axes[2].labels[1]}
    curves, ticks = comp.series_over("rmse", "p.sigma_max")
    assert all([x for x, _ in pts] == [20.0, 80.0] for pts in curves.values()) and not ticks
    # a saved sweep redraws without running, axis plots included
    again = tmp_path / "again"
    assert main(["compare", str(out / "comparison.json"), "--out", str(again), "--quiet",
                 "--no-samples"]) == 0
    assert (again / "error_vs_n.png").exists()
    assert (again / "table.csv").read_text() == (out / "table.csv").read_text()


def test_solver_param_axis_and_old_files_open(tmp_path):
    """A solver's own parameter on an axis (ddim eta); an old studio.compare/1 file (no axes)
    still opens, and a saved axis comparison reopens and re-runs to the same table."""
    pipe = Pipeline.from_dict(pipeline_dict(batch=8))
    spec = CompareSpec.from_pipeline(pipe, [5], ["ddim"], axes=[Axis("ddim.eta", [0.0, 1.0])],
                                     metrics=["rmse", "nfe"], n_data=200)
    comp = ComparisonRun(spec).run()
    a, b = comp.results[0], comp.results[1]
    assert a.cell.solver_params()["eta"] == 0.0 and b.cell.solver_params()["eta"] == 1.0
    assert not torch.equal(a.samples, b.samples)
    path = str(tmp_path / "c.json")
    comp.save(path)
    again = Comparison.load(path)
    assert again.table() == comp.table() and again.spec.axes[0].values == [0.0, 1.0]
    assert ComparisonRun(again.spec).run().table() == comp.table()
    old = ComparisonRun(CompareSpec.from_pipeline(pipe, [5], ["ddim"], metrics=["rmse"],
                                                  n_data=200)).run().to_dict()
    assert "axes" not in old["spec"] and all(len(r["key"]) == 4 for r in old["references"])
    reopened = Comparison.from_dict(json.loads(json.dumps(old)))
    assert reopened.spec.axes == [] and reopened.reference_for(reopened.results[0]) is not None

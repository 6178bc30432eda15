"""A comparison row may run another network than the pipeline's: the bundled moons flow-map model
at 1, 2 and 4 jumps raced against its teacher (the bundled moons model) with DPM-Solver++(2M) at
the same NFE, from the same noise, by ``studio compare``."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.cli.main import main
from studio.core.compare import Comparison, CompareSpec, SolverEntry, parse_solver
from studio.core.compare.spec import row_guidance
from studio.core.errors import StudioError
from studio.core.pipeline import Pipeline

STUDENT = "assets:moons-flow-map.safetensors"


def teacher_pipeline(batch: int = 96) -> dict:
    return {"format": "studio.pipeline/1",
            "nodes": {"proc": {"type": "process", "kind": "vp-linear", "params": {}},
                      "model": {"type": "network", "kind": "file",
                                "params": {"path": "assets:moons.safetensors"}},
                      "solver": {"type": "solver", "kind": "dpm-solver++-2m",
                                 "params": {"nfe": 10}}},
            "links": [["proc", "model"], ["model", "solver"]],
            "run": {"batch": batch, "seed": 0, "dtype": "float32"}}


def test_row_network_parses_round_trips_and_names_errors():
    e = parse_solver(f"flow-map:gamma=0.3@{STUDENT}")
    assert e.kind == "flow-map" and e.params == {"gamma": 0.3}
    assert e.network == {"kind": "file", "params": {"path": STUDENT}}
    assert e.label == "flow-map(gamma=0.3) @ moons-flow-map"
    assert e.text() == f"flow-map:gamma=0.3@{STUDENT}"
    back = SolverEntry.from_dict(json.loads(json.dumps(e.to_dict())), "s")
    assert back == e
    # an analytic network written as kind:key=value
    g = parse_solver("heun@gaussian:mean=[1.0, 2.0]")
    assert g.network == {"kind": "gaussian", "params": {"mean": [1.0, 2.0]}}
    # a flow map takes no guidance; an ODE solver keeps the pipeline's
    assert row_guidance(e, "cfg") is None and row_guidance(g, "cfg") == "cfg"
    with pytest.raises(StudioError, match="after '@'"):
        parse_solver("flow-map@")
    with pytest.raises(StudioError, match="nosuchnet"):
        parse_solver("euler@nosuchnet")
    with pytest.raises(StudioError, match="unknown parameter 'bogus'"):
        parse_solver("euler@gaussian:bogus=1")
    with pytest.raises(StudioError, match="network"):
        SolverEntry.from_dict({"kind": "euler", "network": {"params": {}}}, "solvers[0]")


def test_cli_races_the_flow_map_against_its_teacher_at_equal_nfe(tmp_path, capsys):
    pipe = tmp_path / "moons.json"
    pipe.write_text(json.dumps(teacher_pipeline()))
    out = tmp_path / "out"
    rc = main(["compare", str(pipe), "--solvers", f"dpm-solver++-2m,flow-map@{STUDENT}",
               "--nfe", "1,2,4", "--metrics", "rmse,nfe", "--out", str(out), "--quiet",
               "--no-plots"])
    assert rc == 0, capsys.readouterr().err
    comp = Comparison.load(str(out / "comparison.json"))
    spec = comp.spec
    assert [s.network for s in spec.solvers] == [None, {"kind": "file",
                                                        "params": {"path": STUDENT}}]
    rows = {(c.solver.kind, c.nfe): comp.results[c.index] for c in spec.cells()}
    # the flow map jumps once per NFE; the teacher's 2M solver needs 2 evaluations
    for k in (1, 2, 4):
        r = rows[("flow-map", k)]
        assert r.ok and r.nfe == k and r.steps == k
    assert rows[("dpm-solver++-2m", 1)].status == "skipped"
    # every cell is `studio run` of its own pipeline, which names the flow-map model
    saved = np.load(out / "samples.npz")
    for cell in spec.cells():
        if not comp.results[cell.index].ok:
            continue
        cp = spec.cell_pipeline(cell).to_dict()
        net = next(n for n in cp["nodes"].values() if n["type"] == "network")
        assert net["params"]["path"] == (STUDENT if cell.solver.kind == "flow-map"
                                         else "assets:moons.safetensors")
        direct = Pipeline.from_dict(cp).build().run()[cell.solver.branch].samples.numpy()
        np.testing.assert_array_equal(saved[cell.key], direct)
    # both rows start from the same noise and are measured against the teacher's exact ODE
    # endpoint: the distilled map is far closer to it than the teacher's own solver at 2 and 4
    rmse = {key: r.metrics["rmse"] for key, r in rows.items() if r.ok}
    assert rmse[("flow-map", 2)] < 0.5 * rmse[("dpm-solver++-2m", 2)]
    assert rmse[("flow-map", 4)] < rmse[("dpm-solver++-2m", 4)]
    assert rmse[("flow-map", 4)] < 0.1
    table = json.loads((out / "table.json").read_text())
    assert any(r["row"].startswith("flow-map @ moons-flow-map") for r in table["rows"])


def test_worker_side_runs_row_networks_identically():
    """What a process or Ray worker runs for a cell (the spec sent as JSON) equals the local run."""
    from studio.core.compare import compare
    from studio.core.compare.executors import worker_cell
    pipe = Pipeline.from_dict(teacher_pipeline(batch=32))
    spec = CompareSpec.from_pipeline(pipe, [2], [f"flow-map@{STUDENT}", "euler"],
                                     metrics=["nfe"])
    here = compare(spec)
    payload = {"spec": json.loads(json.dumps(spec.to_dict())), "noise": None, "record": False}
    for i, r in here.results.items():
        out = worker_cell(payload, i)
        assert out.status == "ok"
        np.testing.assert_array_equal(r.samples.numpy(), out.samples.numpy())


def test_a_row_model_file_is_relative_to_the_working_folder(tmp_path, monkeypatch, capsys):
    import shutil

    from studio.core.library import resolve_model_path
    (tmp_path / "pipe").mkdir()
    (tmp_path / "mine").mkdir()
    shutil.copy(resolve_model_path(STUDENT), tmp_path / "mine" / "fm.safetensors")
    pipe = tmp_path / "pipe" / "moons.json"
    pipe.write_text(json.dumps(teacher_pipeline(batch=16)))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    rc = main(["compare", str(pipe), "--solvers", "flow-map@mine/fm.safetensors", "--nfe", "2",
               "--metrics", "nfe", "--out", str(out), "--quiet", "--no-plots"])
    assert rc == 0, capsys.readouterr().err
    comp = Comparison.load(str(out / "comparison.json"))
    assert comp.spec.solvers[0].network["params"]["path"] == str(tmp_path / "mine" /
                                                                 "fm.safetensors")
    assert comp.results[0].ok and comp.results[0].nfe == 2

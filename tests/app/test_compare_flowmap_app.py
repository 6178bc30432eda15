"""The comparison workspace races a flow-map model against its teacher: the set-up's model rows
add ``flow-map@assets:moons-flow-map.safetensors`` beside the teacher's DPM-Solver++(2M), and the
workspace's comparison is the one ``studio compare`` runs for the same options."""
from __future__ import annotations

import json
import os

import numpy as np

from studio.core.compare import CompareSpec, compare
from studio.core.compare.spec import parse_solver
from studio.core.pipeline import Pipeline

from .test_compare_workspace import run_compare, setup_form

STUDENT = "assets:moons-flow-map.safetensors"


def test_flow_map_row_races_its_teacher_in_the_workspace(win, qtbot, tmp_path):
    pipe = {"format": "studio.pipeline/1",
            "nodes": {"proc": {"type": "process", "kind": "vp-linear", "params": {}},
                      "model": {"type": "network", "kind": "file",
                                "params": {"path": "assets:moons.safetensors"}},
                      "solver": {"type": "solver", "kind": "dpm-solver++-2m", "params": {}}},
            "links": [["proc", "model"], ["model", "solver"]],
            "run": {"batch": 64, "seed": 3, "dtype": "float32"}}
    path = tmp_path / "moons.json"
    path.write_text(json.dumps(pipe))
    ws = win.compare
    assert not ws.setup.model_rows.listed     # the library is not read at start-up...
    win.workspaces.show("compare")
    assert ws.setup.model_rows.listed         # ...but when the Comparison page shows the rows
    setup_form(ws, solvers=("dpm-solver++-2m",), nfes="1, 2, 4", batch=64,
               metrics=("rmse", "nfe"))
    ws.setup.set_pipeline_file(str(path))
    rows = ws.setup.model_rows
    # the library's flow-map models come first, with the flow-map solver
    flow = [rows.model.itemData(i) for i in range(rows.model.count())
            if rows.model.itemText(i).startswith("flow map")]
    assert STUDENT in flow and rows.model.itemData(0) in flow
    rows.solver.setCurrentIndex(rows.solver.findData("euler"))
    rows.set_model(STUDENT)
    assert rows.solver.currentData() == "flow-map"
    assert rows.add_row() == f"flow-map@{STUDENT}"
    assert rows.add_row() == f"flow-map@{STUDENT}"       # not twice
    assert ws.setup.extra_solvers.text() == f"flow-map@{STUDENT}"
    status, _ = run_compare(qtbot, ws, timeout=60000)
    assert status == "finished"
    comp = ws.session.comparison
    spec = comp.spec
    # the spec `studio compare moons.json --solvers dpm-solver++-2m,flow-map@... --nfe 1,2,4`
    # builds from the same options
    cli = CompareSpec.from_pipeline(Pipeline.load(str(path)), [1, 2, 4],
                                    [parse_solver("dpm-solver++-2m"),
                                     parse_solver(f"flow-map@{STUDENT}")], metrics=["rmse", "nfe"])
    assert [s.to_dict() for s in spec.solvers] == [s.to_dict() for s in cli.solvers]
    assert spec.row_labels() == cli.row_labels()
    direct = compare(cli)
    for cell in spec.cells():
        mine, theirs = comp.results[cell.index], direct.results[cell.index]
        assert mine.status == theirs.status
        if mine.ok:
            np.testing.assert_array_equal(mine.samples.numpy(), theirs.samples.numpy())
    fm = [comp.results[c.index] for c in spec.cells() if c.solver.kind == "flow-map"]
    assert [r.nfe for r in fm] == [1, 2, 4] and all(r.ok for r in fm)
    assert any("flow-map @ moons-flow-map" in c.row_label for c in spec.cells())
    win.resize(1280, 800)
    if os.environ.get("STUDIO_SHOT"):
        win.grab().save(os.environ["STUDIO_SHOT"])
    # saved and reopened: the row comes back into the form as text
    saved = str(tmp_path / "race.json")
    ws.session.save(saved)
    ws.setup.extra_solvers.setText("")
    assert ws.open_path(saved)
    assert ws.setup.extra_solvers.text() == f"flow-map@{STUDENT}"

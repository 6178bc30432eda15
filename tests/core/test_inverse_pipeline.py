"""The pipeline contract of inverse-problem guidance nodes, run headless by `studio run`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.cli.main import main
from studio.core.errors import ParamError
from studio.core.pipeline import Pipeline
from studio.core.registry import GUIDANCE


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/core/conftest.py


RING = [[1.2 * np.cos(k * np.pi / 4), 1.2 * np.sin(k * np.pi / 4)] for k in range(8)]


def _write(tmp_path, guidance: dict, batch=64):
    doc = {
        "format": "studio.pipeline/1",
        "nodes": {
            "proc": {"type": "process", "kind": "vp-linear", "params": {}},
            "prior": {"type": "network", "kind": "gmm",
                      "params": {"means": RING, "vars": [[0.03, 0.03]] * 8}},
            "g": {"type": "guidance", **guidance},
            "ddim": {"type": "solver", "kind": "ddim", "params": {"steps": 20, "eta": 1.0}},
            "heun": {"type": "solver", "kind": "heun", "params": {"steps": 10}},
        },
        "links": [["proc", "prior"], ["prior", "g"], ["g", "ddim"], ["g", "heun"]],
        "run": {"batch": batch, "seed": 3},
    }
    path = tmp_path / "inverse.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("kind", ["replace", "dps", "pigdm", "ddnm", "red-diff", "dds"])
def test_studio_run_contract_with_npy_files(tmp_path, kind):
    np.save(tmp_path / "mask.npy", np.array([1.0, 0.0]))
    np.save(tmp_path / "y.npy", np.array([0.85, 0.0]))
    params = {"operator": {"kind": "inpaint", "mask": "mask.npy"}, "y": "y.npy", "sigma_y": 0.05}
    if kind == "dps":
        params["zeta"] = 0.005   # for this 2-D bed (the paper's 1.0 is for 256^2 images)
    path = _write(tmp_path, {"kind": kind, "params": params})
    out = tmp_path / "out.npz"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--trajectory"]) == 0
    res = np.load(out)
    for sid in ("ddim", "heun"):
        xs = res[f"{sid}.samples"]
        assert xs.shape == (64, 2) and np.all(np.isfinite(xs))
        # posterior samples for that y (the prior gives 0.94; DPS is coarse with 10-20 steps: it
        # was made for 1000)
        assert np.abs(xs[:, 0] - 0.85).mean() < (0.5 if kind == "dps" else 0.2)
        assert res[f"{sid}.x0"].shape[1:] == (64, 2)
    if kind in ("replace", "ddnm"):
        assert np.allclose(res["ddim.samples"][:, 0], 0.85, atol=0.2)


def test_inline_arrays_and_round_trip(tmp_path):
    params = {"operator": {"kind": "projection", "m": 1, "seed": 3}, "y": [0.4], "sigma_y": 0.1,
              "data_var": 0.8}
    path = _write(tmp_path, {"kind": "pigdm", "params": params}, batch=8)
    pipe = Pipeline.load(str(path))
    assert pipe.to_dict()["nodes"]["g"]["params"] == params
    built = pipe.build()
    assert built.guidance["g"].op.out_shape == (1,)
    results = built.run()
    assert set(results) == {"ddim", "heun"}


@pytest.mark.parametrize("params,where,text", [
    ({"operator": {"kind": "inpaint", "mask": "missing.npy"}, "y": [0, 0]}, "node 'g'.params.operator.mask",
     "file not found"),
    ({"operator": {"kind": "inpaint", "mask": [1, 0, 1]}, "y": [0, 0]}, "node 'g'.params.operator.mask",
     "broadcast"),
    ({"operator": {"kind": "inpaint", "mask": [1, 0]}, "y": [0, 0, 0]}, "node 'g'.params.y", "measures [2]"),
    ({"operator": {"kind": "warp"}, "y": [0]}, "node 'g'.params.operator.kind", "valid: inpaint"),
    ({"operator": {"kind": "super-resolution"}, "y": [0]}, "node 'g'.params.operator", "image data"),
    ({"operator": "inpaint", "y": [0]}, "node 'g'.params.operator", "expected an object"),
    ({"operator": {"kind": "inpaint", "mask": [1, 0]}, "y": [0, 0], "sigma_y": -1},
     "node 'g'.params.sigma_y", "below the minimum"),
    ({"y": [0, 0]}, "node 'g'.params", "missing required parameter 'operator'"),
])
def test_errors_name_node_and_field(tmp_path, capsys, params, where, text):
    path = _write(tmp_path, {"kind": "ddnm", "params": params})
    assert main(["run", str(path), "--out", str(tmp_path / "o.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert where in err and text in err, err


def test_kinds_are_registered_with_documented_params():
    for kind in ["replace", "dps", "pigdm", "ddnm", "red-diff", "dds", "ir-sde"]:
        specs = {s.name: s for s in GUIDANCE.specs(kind)}
        assert {"operator", "y", "sigma_y"} <= set(specs)
        assert all(s.doc for s in specs.values())
        assert GUIDANCE.get(kind).__doc__ and GUIDANCE.get(kind).title
    with pytest.raises(ParamError):
        from studio.core.inverse.guidance import build_operator
        build_operator({"kind": "inpaint"})


def test_studio_operators_lists_operators_and_methods(capsys):
    assert main(["operators", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in data["operators"]} == {"inpaint", "super-resolution", "blur", "colorize",
                                                    "projection"}
    assert {r["id"] for r in data["methods"]} == {"replace", "dps", "pigdm", "ddnm", "red-diff", "dds",
                                                    "tds", "mcgdiff", "fps", "ir-sde"}
    assert main(["operators"]) == 0
    assert "super-resolution" in capsys.readouterr().out

"""The pipeline format: validation errors name node and field; round trips keep extra keys."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from studio.core.errors import ParamError, PipelineError
from studio.core.model import Denoiser
from studio.core.networks.gmm import GMM
from studio.core.pipeline import Pipeline

from .helpers import network, process

BASE = {
    "format": "studio.pipeline/1",
    "nodes": {
        "proc": {"type": "process", "kind": "edm", "params": {"sigma_min": 0.002, "sigma_max": 80}},
        "model": {"type": "network", "kind": "gmm",
                  "params": {"means": [[0, 0], [3, 3]], "covs": [[[1, 0], [0, 1]], [[0.5, 0], [0, 0.5]]],
                             "weights": [0.5, 0.5]}},
        "solver": {"type": "solver", "kind": "dpm-solver++-2m",
                   "params": {"nfe": 10, "schedule": "karras", "rho": 7}},
    },
    "links": [["proc", "model"], ["model", "solver"]],
    "run": {"batch": 50, "seed": 0, "device": "cpu", "dtype": "float64"},
}


def variant(**changes):
    d = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = path.split("__")
        node = d
        for k in keys[:-1]:
            node = node[k]
        if value is None:
            node.pop(keys[-1])
        else:
            node[keys[-1]] = value
    return d


def test_the_issue_example_runs():
    res = Pipeline.from_dict(BASE).build().run()
    assert res["solver"].samples.shape == (50, 2)
    assert res["solver"].nfe == 10


@pytest.mark.parametrize("changes,match", [
    ({"format": "studio.pipeline/9"}, "format"),
    ({"nodes__solver__kind": "nope"}, r"node 'solver'.kind: unknown solver kind 'nope'; valid: .*euler"),
    ({"nodes__proc__type": "thing"}, r"node 'proc'.type"),
    ({"nodes__solver__params": {"nfe": "ten"}}, r"node 'solver'.params.nfe: expected an integer"),
    ({"nodes__solver__params": {"nfe": 10, "bogus": 1}}, r"node 'solver'.params: unknown parameter 'bogus'; valid:"),
    ({"nodes__solver__params": {"schedule": "nope"}}, r"node 'solver'.params.schedule: unknown schedule"),
    ({"nodes__solver__params": {"steps": 3, "nfe": 4}}, "give steps or nfe"),
    ({"nodes__proc__params": {"sigma_min": -1}}, r"node 'proc'.params.sigma_min"),
    ({"nodes__model__params": {"means": [[0, 0]], "covs": [[[1, 0]]]}}, r"node 'model'.params.covs"),
    ({"links": [["proc", "model"]]}, "no solver node|exactly one input"),
    ({"links": [["model", "solver"]]}, r"link the process"),
    ({"links": [["proc", "model"], ["model", "solver"], ["solver", "model"]]}, "cycle|cannot link"),
    ({"links": [["proc", "ghost"]]}, r"links\[0\]: unknown node 'ghost'"),
    ({"links": [["proc", "solver"], ["proc", "model"]]}, "cannot link process"),
    ({"run__batch": 0}, r"run.batch"),
    ({"run__dtype": "int8"}, r"run.dtype"),
    ({"run__bogus": 1}, r"unknown run setting 'bogus'"),
])
def test_bad_pipelines_name_the_place(changes, match):
    with pytest.raises((PipelineError, ParamError), match=match):
        Pipeline.from_dict(variant(**changes)).build()


def test_cycle_is_reported():
    d = variant()
    d["nodes"]["g1"] = {"type": "guidance", "kind": "x", "params": {}}
    from studio.core.pipeline import _check_acyclic
    with pytest.raises(PipelineError, match="cycle: a -> b -> a"):
        _check_acyclic({"a": None, "b": None}, [("a", "b"), ("b", "a")], "p")


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"format": "studio.pipeline/1",\n "nodes": }')
    with pytest.raises(PipelineError, match=r"p.json: not valid JSON: .* line 2"):
        Pipeline.load(str(path))


def test_round_trip_keeps_extra_keys(tmp_path):
    d = variant()
    d["ui"] = {"positions": {"proc": [0, 0]}}
    p = Pipeline.from_dict(d)
    path = tmp_path / "out.json"
    p.save(str(path))
    again = json.loads(path.read_text())
    assert again["ui"] == d["ui"]
    assert again["nodes"] == d["nodes"] and again["links"] == d["links"]
    assert Pipeline.load(str(path)).to_dict() == p.to_dict()


def test_branches_share_noise_and_are_seeded():
    d = variant()
    d["nodes"]["s2"] = {"type": "solver", "kind": "euler", "params": {"steps": 200}}
    d["links"].append(["model", "s2"])
    built = Pipeline.from_dict(d).build()
    runs = list(built.runs(record=True))
    res = {r.branch: r.run() for r in runs}
    assert torch.equal(res["solver"].trajectory[0], res["s2"].trajectory[0])
    # both solve the same ODE from the same noise: endpoints agree to the coarse solver's error
    assert float((res["solver"].samples - res["s2"].samples).abs().mean()) < 0.4
    again = Pipeline.from_dict(d).build().run()
    assert torch.equal(again["s2"].samples, res["s2"].samples)


def test_noise_override_and_shape_check():
    built = Pipeline.from_dict(variant()).build()
    z = torch.zeros(50, 2, dtype=torch.float64)
    out = built.run(noise=z)["solver"].samples
    assert torch.isfinite(out).all()
    with pytest.raises(PipelineError, match=r"noise has shape \[3, 2\]"):
        built.run(noise=torch.zeros(3, 2))


def test_nan_is_caught_at_the_step():
    class Broken(GMM):
        def predict(self, x, t, process, labels=None):
            out = super().predict(x, t, process)
            return out * float("nan") if float(t) < 1.0 else out

    from studio.core.errors import NonFiniteError
    from studio.core.pipeline import build_solver
    from studio.core.runner import SamplingRun
    net = Broken(means=[[0.0, 0.0]])
    proc = process("edm")
    run = SamplingRun(Denoiser(net, proc), build_solver("euler", {"steps": 30}, "s"),
                      torch.randn(4, 2, dtype=torch.float64) * 80, branch="s")
    with pytest.raises(NonFiniteError, match=r"s: .* at step \d+ \(t=0\.\d+"):
        run.run()


def test_cancel_between_steps():
    from studio.core.errors import Cancelled
    from studio.core.runner import CancelToken
    built = Pipeline.from_dict(variant()).build()
    token = CancelToken()
    seen = []
    with pytest.raises(Cancelled):
        for run in built.runs(cancel=token):
            for ev in run:
                seen.append(ev.index)
                if ev.index == 3:
                    token.cancel()
    assert seen[-1] == 3


def test_trained_process_is_adapted_exactly():
    """A network trained under VP, used in an EDM pipeline, gives the EDM posterior mean."""
    vp = process("vp-linear")

    class TrainedUnderVP(GMM):
        @property
        def trained_process(self):
            return vp

        parameterization = "eps"

        def predict(self, x, t, process, labels=None):
            assert process is vp
            x0 = super().predict(x, t, process)
            a, s = process.alpha(t), process.sigma(t)
            return (x - a * x0) / s

    params = dict(means=[[0.0, 1.0], [2.0, -1.0]], vars=[[1.0, 0.5], [0.3, 0.7]])
    trained, exact = TrainedUnderVP(**params), network("gmm", **params)
    edm = process("edm")
    x = torch.randn(6, 2, dtype=torch.float64) * 3
    got = Denoiser(trained, edm)(x, torch.tensor(2.5, dtype=torch.float64)).x0
    want = Denoiser(exact, edm)(x, torch.tensor(2.5, dtype=torch.float64)).x0
    torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-7)

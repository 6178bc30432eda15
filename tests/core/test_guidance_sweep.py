"""The README's classifier-guidance table as a comparison sweep (examples/digits_guidance_sweep.json,
benchmarks/guidance_sweep.py), on a small batch: every cell is the direct run of its pipeline bit
for bit, the independent judge ``digits-mlp`` scores the cells as computing its metrics by hand
does, and a bad axis value fails before anything runs, naming the axis."""
from __future__ import annotations

import copy
import json
import os

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")

from studio.core.compare import CompareSpec, ComparisonRun  # noqa: E402
from studio.core.compare.axes import Axis  # noqa: E402
from studio.core.errors import ParamError  # noqa: E402
from studio.core.pipeline import Pipeline  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                       "digits_guidance_sweep.json")
N = 20
SCALES = [0.0, 4.0]


def small_example() -> dict:
    with open(EXAMPLE) as fh:
        d = json.load(fh)
    d["run"]["batch"] = N
    d["run"]["labels"] = [i % 10 for i in range(N)]
    return d


def direct_run(d: dict, guide: dict) -> torch.Tensor:
    """`studio run` of the example with the guidance node replaced (written out by hand, not by
    the comparison's own cell_pipeline)."""
    d = copy.deepcopy(d)
    d["nodes"]["guide"] = {"type": "guidance", **guide}
    return Pipeline.from_dict(d).build().run()["solver"].samples


def fd_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance in numpy, as benchmarks/model_quality.py computes the README's:
    tr sqrt(S_a S_b) = tr sqrt(S_a^1/2 S_b S_a^1/2) (symmetric; S_a is singular here)."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from studio.core.compare.digits_judge import real_digits, real_halves
    from studio.core.untrusted import approve
    half_a, _ = real_halves(real_digits()[0])
    path = str(tmp_path_factory.mktemp("real") / "real.npy")
    np.save(path, half_a.reshape(-1, 1, 8, 8))
    approve([path])
    return path, half_a


def test_the_scale_sweep_is_the_direct_runs_and_the_judge_scores_them_as_by_hand(real):
    from studio.core.compare.digits_judge import trained
    path, half_a = real
    d = small_example()
    clf = d["nodes"]["guide"]["params"]["classifier"]
    metrics = [{"id": "classifier-accuracy", "params": {"judge": "digits-mlp"}},
               {"id": "frechet-distance", "params": {"judge": "digits-mlp", "samples": N - 3}}]
    spec = CompareSpec.from_pipeline(Pipeline.from_dict(d), [20], metrics=metrics, data=path,
                                     axes=[Axis("guide.scale", SCALES)])
    comp = ComparisonRun(spec).run()
    assert comp.unavailable == {} and len(comp.results) == len(SCALES)
    net = trained()
    labels = np.arange(N) % 10
    # the data the comparison scored against: real digits from the file (with more than twice
    # the batch, a batch of them is set aside for the floor)
    data = comp.data.reshape(len(comp.data), 64)
    assert len(data) == len(half_a) - N and comp.floors["frechet-distance"] > 0
    assert {tuple(r) for r in data.numpy()} <= {tuple(r) for r in half_a}
    fds = []
    for cell in spec.cells():
        res = comp.results[cell.index]
        scale = SCALES[cell.point[0]]
        guide = {"kind": "classifier", "params": {"classifier": clf, "scale": scale}}
        assert torch.equal(res.samples, direct_run(d, guide)), cell.key
        flat = res.samples.reshape(N, 64).double()
        with torch.no_grad():
            pred = net(flat).argmax(1).numpy()
            feats = net.features(flat).numpy()
            real_feats = net.features(data).numpy()
        assert res.metrics["classifier-accuracy"] == float((pred == labels).mean())
        fd = fd_by_hand(feats[:N - 3], real_feats)
        assert res.metrics["frechet-distance"] == pytest.approx(fd, rel=1e-6, abs=1e-9)
        fds.append(fd)
    # scale 0 adds nothing: the unconditional model's own run (null class)
    uncond = copy.deepcopy(d)
    del uncond["nodes"]["guide"]
    uncond["links"] = [["proc", "model"], ["model", "solver"]]
    uncond["run"]["labels"] = [-1] * N
    assert torch.equal(comp.results[0].samples,
                       Pipeline.from_dict(uncond).build().run()["solver"].samples)
    # the sweep steers: the judge reads more samples as requested at scale 4 than unguided
    assert comp.results[1].metrics["classifier-accuracy"] > \
        comp.results[0].metrics["classifier-accuracy"] + 0.3


def test_the_judge_is_independent_and_the_default_stays_the_bundled_classifier():
    from studio.core.compare.digits_judge import real_digits
    from studio.core.compare.judges import find_judge, judge_names
    from studio.core.compare.metrics import build_metric
    assert judge_names()[:2] == ["digits", "digits-mlp"]
    assert find_judge((1, 8, 8)).name == "digits"
    mlp = find_judge((1, 8, 8), "digits-mlp")
    assert mlp.name == "digits-mlp" and not mlp.applies((2,))
    x, y = real_digits()
    assert (mlp.classify(torch.as_tensor(x[:300]).reshape(-1, 1, 8, 8)).numpy() == y[:300]).mean() \
        > 0.98
    info = {"data_shape": (1, 8, 8), "dim": 64, "data": True, "labels": True, "reference": True}
    why = build_metric("classifier-accuracy", {"judge": "digitz"}).unavailable(info)
    assert "no judge named 'digitz'" in why and "digits-mlp" in why


def test_the_cli_sweep_with_metric_params_and_bad_axis_values(tmp_path, real, capsys):
    from studio.cli.main import main
    path, _ = real
    pipe = tmp_path / "sweep.json"
    pipe.write_text(json.dumps(small_example()))
    out = tmp_path / "cmp"
    rc = main(["compare", str(pipe), "--axis", "guide.scale=1,2", "--nfe", "20", "--metrics",
               "classifier-accuracy:judge=digits-mlp,frechet-distance:judge=digits-mlp:samples=17",
               "--data", path, "--no-plots", "--quiet", "--out", str(out)])
    assert rc == 0
    saved = json.loads((out / "comparison.json").read_text())
    assert {"id": "frechet-distance", "params": {"judge": "digits-mlp", "samples": 17}} in \
        saved["spec"]["metrics"]
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert [r["guide.scale"] for r in rows] == [1, 2]
    assert all(0.0 <= r["classifier-accuracy"] <= 1.0 and r["frechet-distance"] > 0 for r in rows)
    # a negative scale is refused before anything runs, naming the axis and the value
    bad = tmp_path / "bad"
    capsys.readouterr()
    assert main(["compare", str(pipe), "--axis", "guide.scale=1,-2", "--nfe", "20", "--quiet",
                 "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "guide.scale" in err and "-2" in err
    assert not (bad / "table.json").exists()
    with pytest.raises(ParamError, match="guide.scale"):
        CompareSpec.from_pipeline(Pipeline.from_dict(small_example()), [20],
                                  axes=[Axis("guide.scale", [2.0, -1.0])])
    # a metric's unknown parameter is named too
    assert main(["compare", str(pipe), "--axis", "guide.scale=1", "--nfe", "20", "--metrics",
                 "classifier-accuracy:judje=digits-mlp", "--quiet", "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "classifier-accuracy" in err and "judje" in err

"""The headless CLI contract: `studio run`, the listing commands, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from studio.cli.main import main

from .test_pipeline import BASE


@pytest.fixture
def pipeline_file(tmp_path):
    d = json.loads(json.dumps(BASE))
    d["nodes"]["heun"] = {"type": "solver", "kind": "heun", "params": {"nfe": 21}}
    d["links"].append(["model", "heun"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps(d))
    return path


def test_run_writes_contract_keys(pipeline_file, tmp_path, capsys):
    out = tmp_path / "r.npz"
    assert main(["run", str(pipeline_file), "--out", str(out), "--trajectory"]) == 0
    err = capsys.readouterr().err
    assert "nfe" in err  # progress on stderr
    r = np.load(out)
    assert r["solver.samples"].shape == (50, 2)
    assert int(r["solver.nfe"]) == 10 and int(r["heun.nfe"]) == 21
    assert r["solver.t"].shape == (10,)
    assert r["solver.trajectory"].shape == (10, 50, 2)
    assert r["solver.x0"].shape == (9, 50, 2)
    assert r["heun.trajectory"].shape == (11, 50, 2)
    np.testing.assert_allclose(r["solver.trajectory"][0], r["heun.trajectory"][0])


def test_run_with_noise_file_matches_prior_scaling(pipeline_file, tmp_path):
    z = np.random.default_rng(0).normal(size=(50, 2))
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / "r.npz"
    assert main(["run", str(pipeline_file), "--out", str(out), "--noise", str(tmp_path / "z.npy"),
                 "--trajectory", "--quiet"]) == 0
    r = np.load(out)
    np.testing.assert_allclose(r["solver.trajectory"][0], 80.0 * z)  # sigma_max * z for edm


def test_bad_input_exit_2_one_line(pipeline_file, tmp_path):
    d = json.loads(pipeline_file.read_text())
    d["nodes"]["solver"]["params"]["nfe"] = "many"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    proc = subprocess.run([sys.executable, "-m", "studio", "run", str(bad), "--out",
                           str(tmp_path / "x.npz")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "node 'solver'.params.nfe" in lines[0]
    assert not (tmp_path / "x.npz").exists()


def test_noise_of_wrong_shape(pipeline_file, tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((3, 2)))
    code = main(["run", str(pipeline_file), "--out", str(tmp_path / "r.npz"), "--noise",
                 str(tmp_path / "z.npy"), "--quiet"])
    assert code == 2


@pytest.mark.parametrize("which", ["solvers", "processes", "schedules"])
def test_listings_json(which, capsys):
    assert main([which, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all("id" in r for r in rows)
    if which == "solvers":
        assert all(isinstance(r["order"], int) and isinstance(r["stochastic"], bool) for r in rows)
        assert {"euler", "heun", "ddim", "dpm-solver++-2m"} <= {r["id"] for r in rows}


def test_listing_table(capsys):
    assert main(["solvers"]) == 0
    assert "dpm-solver++-2m" in capsys.readouterr().out

"""Plugins from outside the package: files in the plugin folder and entry points register like the
built-ins, a broken plugin is listed with its error and stops nothing, and `studio plugins check`
runs the conformance checks (order, determinism by seed, nfe, JSON round trip) on a file."""
from __future__ import annotations

import json
from importlib.metadata import EntryPoint

import pytest

from studio.cli.main import main
from studio.core import user_plugins
from studio.core.registry import SOLVERS

GOOD = '''
from dataclasses import dataclass
from studio.core.registry import SOLVERS
from studio.core.solvers.base import Solver, Step


@SOLVERS.register("{id}")
@dataclass
class Ralston(Solver):
    """Ralston's second-order Runge-Kutta method on the probability-flow ODE."""
    title = "Ralston RK2"
    order = {order}
    evals_per_step = 2

    def sample(self, ctx, x, ts):
        for i in range(len(ts) - 1):
            h = ts[i + 1] - ts[i]
            pred = ctx(x, ts[i])
            k1 = pred.velocity
            k2 = ctx(x + (2 / 3) * h * k1, ts[i] + (2 / 3) * h).velocity
            x = x + h * (0.25 * k1 + 0.75 * k2)
            yield Step(i + 1, x, pred.x0)
'''


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "ralston.py").write_text(GOOD.format(id="test-ralston", order=2))
    (tmp_path / "broken.py").write_text("import no_such_module_anywhere\n")
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')\n")
    yield tmp_path
    for sid in ("test-ralston", "test-wrong-order", "test-ep-solver"):
        SOLVERS._classes.pop(sid, None)


def test_folder_plugins_register_and_broken_ones_are_recorded(folder):
    recs = {r.name: r for r in user_plugins.load_external(force=True, directory=folder)}
    assert set(recs) >= {"ralston", "broken"} and "_private" not in recs
    assert recs["ralston"].ok and recs["ralston"].registered == ["solver:test-ralston"]
    assert "test-ralston" in SOLVERS.ids()
    assert not recs["broken"].ok and "no_such_module_anywhere" in recs["broken"].error
    assert recs["broken"].location.endswith("broken.py")


def test_entry_points_modules_and_callables(folder, tmp_path, monkeypatch):
    mod = tmp_path / "ep_mod"
    mod.mkdir()
    (mod / "__init__.py").write_text(GOOD.format(id="test-ep-solver", order=2)
                                     + "\ndef setup():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint("good", "ep_mod:setup", user_plugins.ENTRY_POINT_GROUP),
           EntryPoint("bad", "ep_missing_mod", user_plugins.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(user_plugins, "_entry_points", lambda: eps)
    recs = {r.name: r for r in user_plugins.load_external(force=True, directory=tmp_path / "none")}
    assert recs["good"].ok and recs["good"].source == "entry point"
    assert "test-ep-solver" in SOLVERS.ids()
    assert not recs["bad"].ok and "ep_missing_mod" in recs["bad"].error


def test_cli_lists_plugins_and_starts_despite_a_broken_one(folder, monkeypatch, capsys):
    """As at a fresh start: the registries load, then the plugin folder; the CLI still works."""
    from studio.core.registry import ALL_REGISTRIES
    monkeypatch.setenv("STUDIO_PLUGIN_DIR", str(folder))
    monkeypatch.setattr(user_plugins, "_loaded", False)
    monkeypatch.setattr(user_plugins, "_records", [])
    for r in ALL_REGISTRIES:
        monkeypatch.setattr(r, "_loaded", False)
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["folder"] == str(folder)
    status = {p["name"]: p["status"] for p in data["plugins"]}
    assert status["ralston"] == "loaded" and status["broken"] == "failed"
    assert main(["solvers", "--json"]) == 0
    assert "test-ralston" in {row["id"] for row in json.loads(capsys.readouterr().out)}
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "FAILED" in text and "registers solver:test-ralston" in text


def test_check_command(folder, tmp_path, capsys):
    assert main(["plugins", "check", str(folder / "ralston.py")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out and "order" in out
    wrong = tmp_path / "wrong.py"
    wrong.write_text(GOOD.format(id="test-wrong-order", order=3))
    assert main(["plugins", "check", str(wrong), "--json"]) == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    assert {c["check"]: c["passed"] for c in checks} == {
        "order": False, "determinism by seed": True, "nfe budget": True, "JSON round trip": True}
    assert main(["plugins", "check", str(folder / "broken.py")]) == 1
    assert "FAILED to import" in capsys.readouterr().out
    assert main(["plugins", "check", str(tmp_path / "missing.py")]) == 2


def test_the_documented_example_passes_its_checks(tmp_path):
    import re
    from pathlib import Path
    from studio.core.plugin_check import check_file
    doc = Path(__file__).resolve().parents[2] / "docs" / "PLUGINS.md"
    code = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)[0]
    (tmp_path / "ralston_doc.py").write_text(code)
    try:
        rec, checks = check_file(str(tmp_path / "ralston_doc.py"))
        assert rec.ok and rec.registered == ["solver:ralston"]
        assert checks and all(c.passed for c in checks), [c.to_json() for c in checks]
    finally:
        SOLVERS._classes.pop("ralston", None)

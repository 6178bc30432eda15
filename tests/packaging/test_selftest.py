"""The self-test (`studio self-test`, the bundle's smoke test) and the bundle's entry point, from the
source tree (fast). tests/packaging/test_bundle.py runs the same self-test in a built bundle."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    return env


def test_self_test_passes_and_leaves_a_tagged_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-m", "studio", "self-test", "--screenshot", str(shot)],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("self-test: PASSED"), proc.stdout
    assert not [ln for ln in lines if " FAIL " in ln]
    for what in ("run finished", "close to the data", "modes covered", "equals the headless run",
                 "screenshot carries the pipeline", "torch training step", "example pipelines"):
        assert any(what in ln for ln in lines), what
    from studio.core import pngmeta
    pipe = pngmeta.read_pipeline(shot)
    assert pipe["format"] == "studio.pipeline/1" and pipe["run"]["batch"] == 2000
    assert "propagateSizeHints" not in proc.stderr


def test_self_test_fails_clearly(tmp_path):
    """A pipeline whose samples are far from the data: non-zero exit and the failing check named."""
    from studio.app.defaults import default_pipeline
    pipe = default_pipeline()
    pipe["nodes"]["dpm-solver++-2m"]["params"] = {"steps": 1, "schedule": "karras",
                                                  "denoise_final": False}
    pipe["run"]["batch"] = 300
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(pipe))
    proc = subprocess.run([sys.executable, "-m", "studio", "gui", str(path), "--self-test",
                           "--screenshot", str(tmp_path / "s.png")],
                          capture_output=True, text=True, env=_env(tmp_path), timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "self-test: FAILED" in proc.stdout
    assert "FAILED: " in proc.stderr and "close to the data" in proc.stderr


def test_gmm_closeness_tells_good_from_collapsed_samples():
    import torch

    from studio.app.selftest import gmm_closeness
    from studio.core import catalog
    net = catalog.get("eight-gaussians").build()
    good = net.sample(2000, generator=torch.Generator().manual_seed(3)).numpy()
    st = gmm_closeness(good, net)
    assert abs(st["dist"] - st["dist_ref"]) < 0.1 * st["dist_ref"] and st["tv"] < 0.05
    collapsed = np.repeat(np.asarray(net.means)[:1], 2000, 0) + 0.1 * good[:, :2] / 2
    st = gmm_closeness(collapsed, net)
    assert st["tv"] > 0.8          # every sample in one mode


def test_entry_point_arguments():
    spec = importlib.util.spec_from_file_location("entry", ROOT / "packaging" / "entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    ex = str(ROOT / "examples" / "quickstart.json")
    assert entry.translate([]) == ["gui"]
    assert entry.translate(["--self-test", "--screenshot", "a.png"]) == ["self-test", "--screenshot", "a.png"]
    assert entry.translate([ex]) == ["gui", ex]
    assert entry.translate(["run", ex, "--out", "r.npz"]) == ["run", ex, "--out", "r.npz"]
    assert entry.translate(["solvers"]) == ["solvers"]


def test_desktop_file_is_valid_and_icons_exist():
    text = (ROOT / "packaging" / "linux" / "diffusion-studio.desktop").read_text()
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    keys = dict(ln.split("=", 1) for ln in lines[1:] if "=" in ln)
    assert keys["Type"] == "Application" and keys["Exec"].startswith("DiffusionStudio")
    assert keys["Icon"] == "diffusion-studio" and keys["Categories"].endswith(";")
    from PIL import Image

    from studio.app import resources
    pngs = [p for p in resources.icon_files() if p.suffix == ".png"]
    assert {16, 32, 48, 256} <= {Image.open(p).size[0] for p in pngs}
    for f, fmt in (("diffusion-studio.ico", "ICO"), ("diffusion-studio.icns", "ICNS")):
        with Image.open(ROOT / "packaging" / "icons" / f) as im:
            assert im.format == fmt

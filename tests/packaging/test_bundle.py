"""Build the Linux bundle with packaging/build.sh, unpack the archive it makes, and run the bundled
executable's self-test there without a network (``unshare -n`` where it works).

Slow (minutes) and heavy (about 1 GB on disk), so it runs only when asked:

    STUDIO_BUILD_BUNDLE=1 python -m pytest -q -s tests/packaging/test_bundle.py

STUDIO_BUNDLE_ARGS passes options to build.sh (e.g. ``--current-env``). Timings are printed and
written to build/bundle-timings.json.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "DiffusionStudio"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("STUDIO_BUILD_BUNDLE") != "1",
                       reason="builds the PyInstaller bundle (minutes): set STUDIO_BUILD_BUNDLE=1"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux bundle"),
]


def _offline_prefix() -> list[str]:
    """``unshare -n`` (a new network namespace with no interfaces) when it works here, else []."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    ok = subprocess.run([exe, "-n", "true"], capture_output=True).returncode == 0
    return [exe, "-n"] if ok else []


def _clean_env(home: Path) -> dict:
    """No Python or Qt paths from the build machine leak into the bundle's run."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "QT_", "VIRTUAL_ENV", "LD_LIBRARY", "CONDA"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_CACHE_HOME=str(home / ".cache"))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    timings = {}
    # the models there before the build must be in the bundle (others may appear while it runs)
    models = {p.name for d in (ROOT / "studio" / "assets" / "models", ROOT / "assets" / "models")
              for p in d.glob("*.safetensors") if not p.name.startswith(".")}
    t0 = time.perf_counter()
    args = os.environ.get("STUDIO_BUNDLE_ARGS", "").split()
    build = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), *args],
                           cwd=ROOT, capture_output=True, text=True, timeout=3600)
    timings["build_s"] = round(time.perf_counter() - t0, 1)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    archives = sorted((ROOT / "dist").glob(f"{NAME}-*-linux-*.tar.*"))
    archives = [a for a in archives if not a.name.endswith(".sha256")]
    assert archives, "build.sh made no archive in dist/"
    archive = max(archives, key=lambda p: p.stat().st_mtime)
    folder = ROOT / "dist" / NAME
    timings["bundle_mib"] = round(sum(f.stat().st_size for f in folder.rglob("*")
                                      if f.is_file() and not f.is_symlink()) / 2**20, 1)
    timings["bundle_files"] = sum(1 for f in folder.rglob("*") if f.is_file())
    timings["archive_mib"] = round(archive.stat().st_size / 2**20, 1)

    # unpack the artefact itself (not the build folder) where nothing of the build is around
    dest = tmp_path_factory.mktemp("unpacked")
    t0 = time.perf_counter()
    if archive.name.endswith(".zst"):
        subprocess.run(f"zstd -dc '{archive}' | tar -C '{dest}' -xf -", shell=True, check=True)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="tar")
    timings["unpack_s"] = round(time.perf_counter() - t0, 1)
    app = dest / NAME
    assert (app / NAME).is_file() and os.access(app / NAME, os.X_OK)
    home = tmp_path_factory.mktemp("home")
    yield {"app": app, "folder": folder, "timings": timings, "home": home, "models": models,
           "offline": _offline_prefix(), "log": build.stdout}
    timings["offline"] = bool(_offline_prefix())
    out = ROOT / "build" / "bundle-timings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(timings, indent=2) + "\n")
    print("\nbundle timings:", json.dumps(timings))


def _run(bundle, *args, timeout=900):
    cmd = [*bundle["offline"], str(bundle["app"] / NAME), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(bundle["home"]),
                          cwd=bundle["home"], timeout=timeout)
    return proc, time.perf_counter() - t0


def test_bundle_contents(bundle):
    app = bundle["app"]
    internal = app / "_internal"
    for rel in ("diffusion-studio.desktop", "install.sh", "README.txt", "icons/diffusion-studio.svg",
                "icons/diffusion-studio-256.png"):
        assert (app / rel).is_file(), rel
    assert sorted(p.name for p in (internal / "examples").glob("*.json")) == \
        sorted(p.name for p in (ROOT / "examples").glob("*.json"))
    have_models = {p.name for p in (internal / "studio" / "assets" / "models").glob("*.safetensors")}
    assert bundle["models"] <= have_models
    # everything readable by every user
    private = [p for p in app.rglob("*") if not p.is_symlink() and not (p.stat().st_mode & 0o004)]
    assert not private, private[:5]
    plugins = internal / "PySide6" / "Qt" / "plugins"
    for p in ("platforms/libqxcb.so", "platforms/libqoffscreen.so", "imageformats/libqsvg.so"):
        assert (plugins / p).is_file(), p
    # trimmed
    for gone in ("torch/test", "torch/include", "PySide6/Qt/translations", "PySide6/Qt/qml",
                 "scipy", "sklearn", "pytest", "platforms/libqwayland.so"):
        path = plugins / gone if gone.startswith("platforms/") else internal / gone
        assert not path.exists(), f"{gone} should not be bundled"
    assert not list(internal.glob("torch/lib/*test*.so"))


def test_version_and_startup(bundle):
    proc, secs = _run(bundle, "--version", timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("Diffusion Studio ")
    bundle["timings"]["version_s"] = round(secs, 2)
    proc, secs = _run(bundle, "solvers", timeout=300)        # imports torch and the engine
    assert proc.returncode == 0 and "dpm-solver++-2m" in proc.stdout
    bundle["timings"]["cli_startup_s"] = round(secs, 2)


def test_self_test_offline(bundle):
    shot = bundle["home"] / "selftest.png"
    proc, secs = _run(bundle, "--self-test", "--screenshot", str(shot))
    bundle["timings"]["self_test_s"] = round(secs, 1)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "self-test: PASSED" in proc.stdout
    for line in proc.stdout.splitlines():
        if "main window opened" in line:
            bundle["timings"]["window_line"] = line.split(": ", 2)[-1]
    assert shot.is_file() and shot.stat().st_size > 10_000
    shutil.copy(shot, ROOT / "build" / "bundle-selftest.png")


def test_headless_run_offline(bundle):
    out = bundle["home"] / "r.npz"
    ex = bundle["app"] / "_internal" / "examples" / "quickstart.json"
    proc, secs = _run(bundle, "run", str(ex), "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    bundle["timings"]["headless_run_s"] = round(secs, 1)
    r = np.load(out)
    samples = [k for k in r.files if k.endswith(".samples")]
    assert samples and all(np.isfinite(r[k]).all() for k in samples)

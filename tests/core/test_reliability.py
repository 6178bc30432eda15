"""Reliability and safety (issue 12): one test (or a few) per numbered finding.

Special files are made inside tmp folders only (never a real device node is written to): a FIFO
with ``os.mkfifo``, a character device with ``os.mknod`` (root only; skipped otherwise), symlinks to
``/dev/zero``. A full disk is an injected write failure.
"""
from __future__ import annotations

import copy
import errno
import json
import os
import stat
import struct
import threading
import time
import warnings
import zlib

import numpy as np
import pytest
import torch

from studio.cli.main import main
from studio.core import atomic, pngmeta, untrusted
from studio.core.errors import Cancelled, NonFiniteError, StudioError, StudioWarning
from studio.core.pipeline import Pipeline

from .test_pipeline import BASE


def pipe_dict(**run):
    d = copy.deepcopy(BASE)
    d["run"].update(run)
    return d


@pytest.fixture
def pfile(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(pipe_dict(batch=8)))
    return path


@pytest.fixture(autouse=True)
def isolated_library(tmp_path, monkeypatch):
    lib = tmp_path / "library"
    lib.mkdir()
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(lib))
    monkeypatch.delenv("STUDIO_MODEL_PATH", raising=False)
    monkeypatch.setenv("STUDIO_CRASH_DIR", str(tmp_path / "crashes"))
    return lib


def err_line(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def char_device(path) -> str:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a /dev/null twin, in tmp
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here (not root)")
    return str(path)


# -- 1. destructive writes ------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["run", "nll"])
def test_out_device_is_refused_and_untouched(cmd, pfile, tmp_path, capsys):
    dev = char_device(tmp_path / "null")
    args = [cmd, str(pfile), "--out", dev, "--quiet"]
    if cmd == "nll":
        np.save(tmp_path / "x.npy", np.zeros((4, 2)))
        args += ["--data", str(tmp_path / "x.npy")]
    assert main(args) == 2
    assert "a device" in err_line(capsys)
    assert stat.S_ISCHR(os.stat(dev).st_mode)


def test_out_fifo_folder_and_missing_folder(pfile, tmp_path, capsys):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    assert main(["run", str(pfile), "--out", str(fifo), "--quiet"]) == 2
    assert "FIFO" in err_line(capsys) and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert main(["run", str(pfile), "--out", str(tmp_path), "--quiet"]) == 2
    assert "a folder" in err_line(capsys)
    new = tmp_path / "new" / "deeper" / "r.npz"
    assert main(["run", str(pfile), "--out", str(new), "--quiet"]) == 2
    assert "--mkdir" in err_line(capsys) and not (tmp_path / "new").exists()
    assert main(["run", str(pfile), "--out", str(new), "--quiet", "--mkdir"]) == 0
    assert new.is_file()


def test_permissions_kept_and_symlink_target_written(pfile, tmp_path):
    out = tmp_path / "r.npz"
    out.write_bytes(b"old")
    os.chmod(out, 0o600)
    assert main(["run", str(pfile), "--out", str(out), "--quiet"]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    link = tmp_path / "link.npz"
    link.symlink_to(out)
    atomic.write_atomic(str(link), b"new")
    assert link.is_symlink() and out.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "w").mkdir()
    target = tmp_path / "w" / "keep.json"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(StudioError, match="No space left"):
        atomic.write_atomic(str(target), "new" * 1000)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path / "w") == ["keep.json"]


# -- 2. unbounded work ----------------------------------------------------------------------------
def test_nfe_budget_to_steps_is_closed_form():
    from studio.core.pipeline import build_solver
    from studio.core.solvers.base import steps_for_budget

    calls = []

    def cost(n):
        calls.append(n)
        return 3 * n + 1
    assert steps_for_budget(cost, 10 ** 18) == (10 ** 18 - 1) // 3
    assert len(calls) < 10
    assert steps_for_budget(lambda n: n * n, 10 ** 12) == 10 ** 6  # not affine: bisection
    for kind in ("euler", "heun", "dpm-solver++-2m", "plms", "unipc", "pc"):
        s = build_solver(kind, {"nfe": 9_999_999}, "s")
        n = s.num_steps()
        assert s.nfe_for_steps(n) <= 9_999_999 < s.nfe_for_steps(n + 1)


def test_out_of_range_steps_refused(tmp_path, capsys):
    d = pipe_dict()
    d["nodes"]["solver"]["params"] = {"nfe": 1_000_000_000}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(d))
    t0 = time.perf_counter()
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 2
    assert time.perf_counter() - t0 < 10
    assert "params.nfe" in err_line(capsys)


def test_memory_estimate_refuses_with_figures(tmp_path, capsys, monkeypatch):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(pipe_dict(batch=10 ** 9)))
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 2
    line = err_line(capsys)
    assert "needs about" in line and "free" in line and "batch of at most" in line
    monkeypatch.setenv("STUDIO_FREE_MEMORY", str(1 << 20))
    p.write_text(json.dumps(pipe_dict(batch=2000)))
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet",
                 "--trajectory"]) == 2
    assert "recorded steps" in err_line(capsys)


def test_training_estimate_refuses_huge_mlp_without_allocating():
    from studio.core.cost import ResourceError, training_estimate
    from studio.core.nn.registry import ARCHITECTURES
    from studio.core.params import build

    arch = build(ARCHITECTURES.get("mlp", "a"), {"width": 4096, "depth": 8}, "a")
    est = training_estimate(arch, (2,), 0, 10 ** 6, 1000)
    assert est.total > 5 * 2 ** 30   # ~2.7e8 parameters, counted on the meta device
    with pytest.raises(ResourceError, match="free"):
        est.check("cpu", free=16 * 2 ** 30)


def test_cancel_of_a_huge_run_within_a_second():
    d = pipe_dict(batch=1)
    d["nodes"]["solver"] = {"type": "solver", "kind": "euler", "params": {"steps": 1_000_000}}
    built = Pipeline.from_dict(d).build()
    from studio.core.runner import CancelToken
    token = CancelToken()
    run = next(built.runs(cancel=token))
    it = iter(run)
    next(it)
    timer = threading.Timer(0.2, token.cancel)
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(Cancelled):
        for _ in it:
            pass
    assert time.perf_counter() - t0 < 1.5


# -- 3. files outside the pipeline's folder ---------------------------------------------------------
def _empirical(path_value):
    d = pipe_dict(batch=4)
    d["nodes"]["model"] = {"type": "network", "kind": "empirical", "params": {"data": path_value}}
    return d


def test_outside_paths_refused_unless_allowed(tmp_path, capsys):
    secret = tmp_path / "secret.npy"
    np.save(secret, np.ones((5, 2)))
    share = tmp_path / "share"
    share.mkdir()
    for value in ("../secret.npy", str(secret)):
        p = share / "p.json"
        p.write_text(json.dumps(_empirical(value)))
        assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 2
        assert "outside the pipeline's folder" in err_line(capsys)
    (share / "inside.npy").symlink_to(secret)
    p.write_text(json.dumps(_empirical("inside.npy")))
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 2
    assert "--allow-outside-paths" in err_line(capsys)
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet",
                 "--allow-outside-paths"]) == 0


def test_png_embedded_pipeline_cannot_reach_out(tmp_path, capsys):
    np.save(tmp_path / "secret.npy", np.ones((5, 2)))
    (tmp_path / "pics").mkdir()
    png = tmp_path / "pics" / "p.png"
    pngmeta.write_png(png, np.zeros((4, 4)), _empirical("../secret.npy"))
    assert main(["run", str(png), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 2
    assert "outside" in err_line(capsys)


# -- 4. one bad file never hides the library ------------------------------------------------------
def test_library_lists_every_file_with_reasons(isolated_library, tmp_path, capsys):
    from studio.core.library import list_models

    from .models_helpers import tiny_spec, tiny_state
    from studio.core.modelfile import save_model
    save_model(str(isolated_library / "good.safetensors"), tiny_state(tiny_spec()), tiny_spec())
    deep = b"[" * 100000 + b"]" * 100000
    (isolated_library / "deep.safetensors").write_bytes(struct.pack("<Q", len(deep)) + deep)
    os.mkfifo(isolated_library / "fifo.safetensors")
    stray = isolated_library / ".tmp-abc.safetensors"
    stray.write_bytes(b"half")
    os.utime(stray, (time.time() - 3600, time.time() - 3600))
    fresh = isolated_library / ".tmp-now.safetensors"
    fresh.write_bytes(b"writing")
    entries = {os.path.basename(e.path): e for e in list_models() if e.source == "user"}
    assert set(entries) == {"good.safetensors", "deep.safetensors", "fifo.safetensors"}
    assert entries["good.safetensors"].info is not None
    assert "nested deeper" in entries["deep.safetensors"].error
    assert "FIFO" in entries["fifo.safetensors"].error
    assert not stray.exists() and fresh.exists()
    assert any(e.source == "bundled" and e.info is not None for e in list_models())
    assert main(["models", "list", "--dir", str(isolated_library)]) == 0
    assert "UNUSABLE" in capsys.readouterr().out


# -- 5. a full disk during compare is a failure -----------------------------------------------------
def test_compare_on_full_disk_fails(pfile, tmp_path, monkeypatch, capsys):
    real = atomic.os.replace

    def full(src, dst):
        if str(dst).endswith(".csv"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)
    monkeypatch.setattr(atomic.os, "replace", full)
    out = tmp_path / "cmp"
    rc = main(["compare", str(pfile), "--solvers", "euler", "--nfe", "3", "--out", str(out),
               "--no-plots", "--quiet", "--metrics", "rmse"])
    assert rc == 2
    assert "No space left" in capsys.readouterr().err
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]
    (tmp_path / "afile").write_text("x")
    assert main(["compare", str(pfile), "--nfe", "3", "--out", str(tmp_path / "afile")]) == 2


# -- 6. PNG text chunks: keyword first, bounded --------------------------------------------------------
def test_png_other_chunks_are_never_inflated(tmp_path, monkeypatch):
    png = pngmeta.embed(pngmeta.encode_png(np.zeros((2, 2))), pipe_dict())
    bomb = zlib.compress(b"\0" * (8 << 20), 9)
    extra = b"".join(pngmeta._chunk(b"zTXt", f"junk{i}".encode() + b"\0\0" + bomb)
                     for i in range(50))
    data = png[:33] + extra + png[33:]
    calls = []
    real = pngmeta._inflate
    monkeypatch.setattr(pngmeta, "_inflate", lambda b, w: calls.append(1) or real(b, w))
    t0 = time.perf_counter()
    assert pngmeta.read_pipeline(data)["format"] == "studio.pipeline/1"
    assert time.perf_counter() - t0 < 2 and len(calls) == 1


# -- 7. sentences instead of tracebacks -----------------------------------------------------------
@pytest.mark.parametrize("change,needle", [
    ({"run": {"seed": 2 ** 63}}, "64 bits"),
    ({"run": {"device": "meta"}}, "cannot run"),
    ({"proc": {"type": "process", "kind": "vp-linear", "params": {"beta_max": 1e6}}}, "maximum"),
    ({"id": "x" * (5 << 20)}, "characters (limit"),
])
def test_bad_settings_are_one_line(change, needle, tmp_path, capsys):
    d = pipe_dict(batch=4)
    if "run" in change:
        d["run"].update(change["run"])
    if "proc" in change:
        d["nodes"]["proc"] = change["proc"]
    if "id" in change:
        d["nodes"][change["id"]] = d["nodes"].pop("solver")
        d["links"][1][1] = change["id"]
    p = tmp_path / "p.json"
    p.write_text(json.dumps(d))
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 2
    assert needle in err_line(capsys)


def test_deep_json_and_huge_numbers(tmp_path):
    with pytest.raises(StudioError, match="nested deeper"):
        untrusted.loads_json("[" * 100000 + "]" * 100000, "x")
    with pytest.raises(StudioError, match="digits"):
        untrusted.loads_json("1" * 5000, "x")
    with pytest.raises(StudioError, match="finite"):
        untrusted.loads_json("[NaN]", "x")
    with pytest.raises(StudioError, match="out of range"):
        untrusted.loads_json("1e999", "x")


def test_bad_npy_files(tmp_path):
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(StudioError, match="a folder"):
        untrusted.load_npy(tmp_path / "dir.npy")
    hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (10**12, 10**6), }"
    code = "{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (2,), }"
    for name, h in (("huge.npy", hdr), ("code.npy", code)):
        body = h.encode().ljust(118) + b"\n"
        (tmp_path / name).write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body)
    with pytest.raises(StudioError, match="not a valid .npy|claims"):
        untrusted.load_npy(tmp_path / "huge.npy")
    with pytest.raises(StudioError, match="not a valid .npy"):
        untrusted.load_npy(tmp_path / "code.npy")
    np.save(tmp_path / "obj.npy", np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(StudioError, match="numeric"):
        untrusted.load_npy(tmp_path / "obj.npy")
    np.save(tmp_path / "short.npy", np.zeros(100))
    raw = (tmp_path / "short.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(raw[:-8])
    with pytest.raises(StudioError, match="holds 792 bytes"):
        untrusted.load_npy(tmp_path / "short.npy")


def test_models_import_empty_file_and_lr(tmp_path, capsys):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "meta.json").write_text("{}")
    assert main(["models", "import", str(tmp_path / "empty.pt"), "--meta",
                 str(tmp_path / "meta.json"), "--out", str(tmp_path / "m.safetensors")]) == 2
    err_line(capsys)
    from studio.core.training import TrainConfig
    from .test_training_cli import CONFIG
    cfg = copy.deepcopy(CONFIG)
    cfg["optim"]["lr"] = 1e300
    with pytest.raises(StudioError, match="maximum"):
        TrainConfig.from_dict(cfg)


def test_internal_error_is_one_line_with_crash_report(pfile, tmp_path, monkeypatch, capsys):
    from studio.cli.commands import run as run_cmd

    def boom(args):
        raise RuntimeError("kaput")
    monkeypatch.setattr(run_cmd, "run", boom)
    assert main(["run", str(pfile), "--out", str(tmp_path / "r.npz")]) == 1
    line = err_line(capsys)
    assert "internal error: RuntimeError: kaput" in line and "crash report:" in line
    report = line.split("crash report: ")[1].split(" (run with")[0]
    assert "Traceback" in open(report).read()
    with pytest.raises(RuntimeError):
        main(["run", str(pfile), "--out", str(tmp_path / "r.npz"), "--debug"])


# -- 8. endless inputs -----------------------------------------------------------------------------
def test_fifo_and_device_links_never_block(pfile, tmp_path, capsys):
    fifo = tmp_path / "z.npy"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.npy"
    zero.symlink_to("/dev/zero")
    for bad in (fifo, zero):
        t0 = time.perf_counter()
        assert main(["run", str(pfile), "--out", str(tmp_path / "r.npz"), "--noise", str(bad),
                     "--quiet"]) == 2
        assert "not a regular file" in err_line(capsys) and time.perf_counter() - t0 < 5
    with pytest.raises(StudioError, match="FIFO"):
        untrusted.read_regular(fifo)
    model = tmp_path / "m.safetensors"
    model.symlink_to("/dev/zero")
    from studio.core.modelfile import read_info
    with pytest.raises(StudioError, match="a device"):
        read_info(str(model))


# -- 9. silent garbage ---------------------------------------------------------------------------
def test_non_finite_after_unit_conversion_is_an_error():
    built = Pipeline.from_dict(pipe_dict(batch=4)).build()
    built.network.to_data_units = lambda x: x * 1e308 * 1e308
    with pytest.raises(NonFiniteError, match="data units"):
        built.run()


def test_degenerate_settings_warn(tmp_path, capsys):
    from studio.core.runner import warn_degenerate
    with pytest.warns(StudioWarning, match="vanish"):
        warn_degenerate(torch.randn(4, 2), torch.tensor([1.0, 1.0 + 1e-12, 0.5]), torch.float32)
    with pytest.warns(StudioWarning, match="collapsed"):
        warn_degenerate(torch.ones(4, 2), torch.tensor([1.0, 0.0]), torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_degenerate(torch.randn(4, 2), torch.tensor([1.0, 0.0]), torch.float64)
    d = pipe_dict(batch=8, dtype="float32")
    d["nodes"]["proc"]["params"] = {"sigma_min": 1e-12, "sigma_max": 1e12}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(d))
    assert main(["run", str(p), "--out", str(tmp_path / "r.npz"), "--quiet"]) == 0
    assert "studio: warning:" in err_line(capsys)


# -- 11. interrupted saves -------------------------------------------------------------------------
def test_second_ctrl_c_cannot_cut_a_save_short(tmp_path):
    import signal

    from studio.cli.safety import deferred_interrupt
    target = tmp_path / "ck.bin"
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            atomic.write_atomic(str(target), b"x" * 1000)
    assert target.read_bytes() == b"x" * 1000
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_kill_9_during_saves_never_leaves_half_a_file(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "m.safetensors"
    target.write_bytes(b"A" * (4 << 20))
    code = ("import sys; from studio.core.atomic import write_atomic\n"
            "i = 0\n"
            "while True:\n"
            "    i += 1\n"
            "    write_atomic(sys.argv[1], bytes([66 + i % 2]) * (4 << 20))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)],
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    deadline = time.time() + 30
    while target.read_bytes()[:1] == b"A" and time.time() < deadline:
        time.sleep(0.05)               # until the writer has replaced the file at least once
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    data = target.read_bytes()
    assert len(data) == 4 << 20 and len(set(data)) == 1   # one whole version, never a mix
    assert data[:1] in (b"B", b"C")
    from studio.core.library import list_models
    for p in tmp_path.glob(".tmp-*"):
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    entries = [e for e in list_models(extra=[str(tmp_path)]) if e.source == "extra"]
    assert [os.path.basename(e.path) for e in entries] == ["m.safetensors"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_usage_errors_and_seed_overrides_are_one_line(pfile, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(pfile), "--nfe", "3", "--n-data", "1e9", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "--n-data" in err_line(capsys)
    assert main(["compare", str(pfile), "--nfe", "3", "--seed", str(2 ** 64), "--out",
                 str(tmp_path / "c"), "--quiet"]) == 2
    assert "--seed: seed must fit in 64 bits" in err_line(capsys)

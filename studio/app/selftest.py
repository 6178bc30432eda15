"""The smoke test of an installation: ``DiffusionStudio --self-test``, ``studio self-test``,
``studio gui --self-test``.

It drives the real application the way the automation options of ``studio gui`` do (the same
:func:`studio.app.main.make_app`, :class:`MainWindow`, ``run()`` / ``runFinished``, frame display and
window grab), offscreen and with throw-away settings, and checks:

* the installation: example pipelines load and build, bundled models open;
* the window opens with the default pipeline, and the run goes to the end;
* the samples are finite, of the right shape, and the same as the engine's headless run of the
  same pipeline (``studio run``);
* for a Gaussian-mixture network (the default), the samples are close to the data: their mean
  distance to the nearest mixture mean matches that of exact samples, and the share of samples
  per component matches the mixture's;
* the trajectory view shows every particle; the screenshot is written, is not blank, and carries
  the pipeline in its PNG metadata (read back).

Every check prints one line; the last line says PASSED or FAILED. Exit code 0 when all pass, 1
otherwise (2 for bad arguments, from the CLI).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field

#: exact samples drawn for the reference statistics
REFERENCE_SAMPLES = 20000


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Report:
    out: object = sys.stdout
    checks: list = field(default_factory=list)     # (name, ok, detail)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, bool(ok), detail))
        mark = "ok  " if ok else "FAIL"
        print(f"self-test: {mark} {name}{': ' + detail if detail else ''}", file=self.out, flush=True)
        return bool(ok)

    def info(self, text: str) -> None:
        print(f"self-test:      {text}", file=self.out, flush=True)

    @property
    def failures(self) -> list:
        return [c for c in self.checks if not c[1]]


# -- checks that need no window ------------------------------------------------------------------
def check_installation(rep: Report) -> None:
    from ..core import library
    from ..core.errors import StudioError
    from ..core.pipeline import Pipeline
    from . import resources

    files = resources.example_files()
    rep.check("example pipelines installed", bool(files),
              f"{len(files)} in {resources.examples_dir()}" if files else
              "no *.json in " + ", ".join(map(str, resources.example_candidates())))
    for f in files:
        try:
            Pipeline.load(str(f)).build()
            rep.check(f"example {f.name}", True, "loads and builds")
        except StudioError as exc:
            rep.check(f"example {f.name}", False, str(exc))
    models = [m for m in library.list_models() if m.source == "bundled"]
    if not models:
        rep.info(f"no bundled models in {library.bundled_dir()}")
    for m in models:
        rep.check(f"bundled model {os.path.basename(m.path)}", m.error is None,
                  m.error or "opens")
    check_training_step(rep)
    icons = resources.icon_files()
    rep.check("application icon", any(p.suffix == ".png" for p in icons),
              f"{len(icons)} files in {resources.ICONS}")


def check_training_step(rep: Report) -> None:
    """A few optimiser steps on a tiny network: loads the parts of torch that training needs
    (autograd, the optimisers and the compiler stack they import), which a bundle could miss."""
    import torch

    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    y = x @ torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.SiLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    ok = all(map(lambda v: v == v, losses)) and losses[-1] < 0.5 * losses[0]
    rep.check("torch training step", ok, f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in 30 Adam "
              f"steps, {time.perf_counter() - t0:.2f} s")


def gmm_closeness(samples, network, seed: int = 12345) -> dict:
    """Statistics of ``samples`` against a GMM network: mean distance to the nearest mean (the
    samples' and exact samples'), and the total-variation distance between the shares of samples
    nearest to each mean."""
    import numpy as np
    import torch

    means = np.asarray(network.means, dtype=np.float64)
    x = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    g = torch.Generator().manual_seed(seed)
    ref = network.sample(REFERENCE_SAMPLES, generator=g).numpy().reshape(REFERENCE_SAMPLES, -1)

    def nearest(pts):
        d = np.sqrt(((pts[:, None, :] - means[None, :, :]) ** 2).sum(-1))
        return d.min(1), d.argmin(1)

    d, k = nearest(x)
    d_ref, k_ref = nearest(ref)
    share = np.bincount(k, minlength=len(means)) / len(k)
    share_ref = np.bincount(k_ref, minlength=len(means)) / len(k_ref)
    return {"dist": float(d.mean()), "dist_ref": float(d_ref.mean()),
            "tv": float(0.5 * np.abs(share - share_ref).sum()), "components": len(means)}


def check_result(rep: Report, pipeline, results: dict) -> None:
    """Shape, finiteness, equality with the headless engine, closeness to a GMM's data."""
    import numpy as np

    built = pipeline.build()
    branches = [b.solver for b in built.branches]
    rep.check("every branch finished", set(results) == set(branches),
              f"{sorted(results)} of {sorted(branches)}")
    batch, shape = pipeline.run.batch, tuple(built.network.data_shape)
    headless = built.run()
    for b, res in results.items():
        s = res.samples.detach().cpu().numpy()
        rep.check(f"{b}: shape", s.shape == (batch, *shape), f"{list(s.shape)}")
        rep.check(f"{b}: finite", bool(np.isfinite(s).all()),
                  "all finite" if np.isfinite(s).all() else f"{int((~np.isfinite(s)).sum())} not finite")
        h = headless[b].samples.detach().cpu().numpy()
        same = h.shape == s.shape and np.allclose(s, h, rtol=1e-6, atol=1e-8)
        rep.check(f"{b}: equals the headless run", same,
                  f"max |diff| {np.abs(s - h).max():.2e}, nfe {res.nfe}" if h.shape == s.shape
                  else "shapes differ")
        if hasattr(built.network, "means") and hasattr(built.network, "sample"):
            st = gmm_closeness(s, built.network)
            ok = 0.5 * st["dist_ref"] <= st["dist"] <= 1.5 * st["dist_ref"] + 1e-3
            rep.check(f"{b}: close to the data", ok,
                      f"mean distance to nearest of {st['components']} means {st['dist']:.4f} "
                      f"(exact samples {st['dist_ref']:.4f})")
            rep.check(f"{b}: modes covered", st["tv"] < 0.1,
                      f"total variation of component shares {st['tv']:.4f} (< 0.1)")


def check_screenshot(rep: Report, path: str, png: bytes, pipeline_dict: dict, size) -> None:
    import numpy as np
    from PIL import Image

    from ..core import pngmeta
    from ..core.pipeline import write_atomic

    try:
        write_atomic(path, pngmeta.embed(png, pipeline_dict))
    except OSError as exc:
        rep.check("screenshot written", False, f"{path}: {exc.strerror or exc}")
        return
    rep.check("screenshot written", True, f"{path} ({os.path.getsize(path) // 1024} KiB)")
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float64)
        rep.check("screenshot size", im.size == (size.width(), size.height()),
                  f"{im.size[0]} x {im.size[1]}")
    rep.check("screenshot not blank", arr.std() > 5.0, f"pixel std {arr.std():.1f}")
    rep.check("screenshot carries the pipeline", pngmeta.read_pipeline(path) == pipeline_dict,
              f"{pngmeta.KEY!r} chunk read back")


# -- the run ---------------------------------------------------------------------------------------
def default_screenshot() -> str:
    """Where the self-test's screenshot goes unless told: a new private folder (mode 0700) in the
    temp directory, so that two users (or two self-tests) never write the same file."""
    return os.path.join(tempfile.mkdtemp(prefix="studio-selftest-"), "selftest.png")


def run_selftest(screenshot: str | None = None, pipeline: str | None = None,
                 timeout: float = 300.0, out=None) -> int:
    """Run the self-test; returns the exit code. ``pipeline``: a JSON (or PNG) to use instead of
    the default pipeline."""
    t_start = time.perf_counter()
    age0 = process_age()
    rep = Report(out or sys.stdout)
    # offscreen, whatever the session: the self-test never shows a window
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if screenshot is None:
        screenshot = default_screenshot()
    screenshot = os.path.abspath(screenshot)
    # the window first, so that its time after the process start is the start-up time
    try:
        code = _run_window(rep, screenshot, pipeline, timeout, age0, t_start)
    except Exception as exc:  # noqa: BLE001 - a self-test reports, it does not crash
        traceback.print_exc()
        rep.check("application", False, f"{type(exc).__name__}: {exc}")
        code = 1
    try:
        check_installation(rep)
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        rep.check("installation", False, f"{type(exc).__name__}: {exc}")
    total = time.perf_counter() - t_start
    fails = rep.failures
    if fails or code:
        first = fails[0] if fails else ("application", False, "see above")
        print(f"self-test: FAILED ({len(fails)} of {len(rep.checks)} checks failed; first: "
              f"{first[0]}: {first[2]})", file=rep.out, flush=True)
        if rep.out is not sys.stderr:
            print(f"DiffusionStudio self-test FAILED: {first[0]}: {first[2]}", file=sys.stderr)
        return 1
    age = process_age()
    since = f", {age:.1f} s since the process started" if age is not None else ""
    print(f"self-test: PASSED ({len(rep.checks)} checks in {total:.1f} s{since})", file=rep.out,
          flush=True)
    return 0


def _quiet_platform_warnings() -> None:
    """Drop the offscreen platform's "does not support propagateSizeHints()" notices (one per
    dock); every other Qt message goes to stderr as usual."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def _run_window(rep: Report, screenshot: str, pipeline: str | None, timeout: float,
                age0: float | None, t_start: float) -> int:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSettings, QTimer

    from .main import make_app
    from .mainwindow import MainWindow

    app = make_app()
    _quiet_platform_warnings()
    tmp = tempfile.TemporaryDirectory(prefix="studio-selftest-")
    settings = QSettings(os.path.join(tmp.name, "settings.ini"), QSettings.IniFormat)
    win = MainWindow(settings)
    win.ask_to_save = False
    win.show_dialogs = False
    if pipeline is not None:
        if pipeline.lower().endswith(".png"):
            from ..core.pngmeta import read_pipeline
            try:
                win.doc.load_dict(read_pipeline(pipeline), source=pipeline, path=None)
                opened = True
            except Exception as exc:  # noqa: BLE001
                win.report("Cannot open pipeline", str(exc))
                opened = False
        else:
            opened = win.open_path(pipeline)
        if not rep.check("pipeline opened", opened,
                         pipeline if opened else win.log.entries[-1][2]):
            win.close()
            return 1
    win.show()
    win.view.fit()
    app.processEvents()
    shown = time.perf_counter() - t_start
    rep.check("main window opened", win.isVisible(),
              f"{shown:.2f} s in the self-test"
              + (f", {age0 + shown:.2f} s after the process started" if age0 is not None else ""))
    problem = win.doc.problem()
    rep.check("pipeline on the canvas is runnable", problem is None,
              problem or f"{len(win.doc.nodes)} nodes, {len(win.doc.links)} links")
    state = {"status": None, "message": "", "t_run": None}

    def finish() -> None:
        if state.get("done"):
            return
        state["done"] = True
        try:
            t_run = time.perf_counter() - state["t_run"] if state["t_run"] else 0.0
            ok = state["status"] == "finished"
            rep.check("run finished", ok, f"{t_run:.2f} s" if ok
                      else f"{state['status']}: {state['message']}")
            if ok:
                pipe = win.doc.to_pipeline()
                results = win.state.results()
                check_result(rep, pipe, results)
                for b in results:
                    try:
                        pts = win.panel.displayed_points(b)
                        rep.check(f"{b}: view shows the particles", len(pts) > 0,
                                  f"{len(pts)} points drawn")
                    except (KeyError, AttributeError) as exc:
                        rep.info(f"{b}: view not inspected ({exc})")
            app.processEvents()
            win.panel.show_frame(-1)
            app.processEvents()
            data = QByteArray()
            buf = QBuffer(data)
            buf.open(QIODevice.WriteOnly)
            img = win.grab()
            img.save(buf, "PNG")
            buf.close()
            check_screenshot(rep, screenshot, bytes(data.data()), win.doc.to_dict(), img.size())
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            rep.check("checks", False, f"{type(exc).__name__}: {exc}")
        finally:
            watchdog.stop()
            win.close()
            app.quit()

    def on_finished(status: str, message: str) -> None:
        state["status"], state["message"] = status, message
        QTimer.singleShot(100, finish)

    def start() -> None:
        state["t_run"] = time.perf_counter()
        if not win.run():
            on_finished("failed", f"the run did not start: {win.log.entries[-1][2]}")

    def too_long() -> None:
        rep.check("run within the time limit", False, f"still running after {timeout:.0f} s")
        win.cancel()
        state["status"], state["message"] = "timeout", f"no result within {timeout:.0f} s"
        QTimer.singleShot(3000, finish)

    watchdog = QTimer()
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(too_long)
    watchdog.start(int(timeout * 1000))
    win.runFinished.connect(on_finished)
    QTimer.singleShot(0, start)
    app.exec()
    tmp.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m studio.app.selftest [--screenshot PNG] [--pipeline FILE] [--timeout S]``."""
    import argparse

    p = argparse.ArgumentParser(prog="studio self-test", description=__doc__.split("\n\n")[0])
    p.add_argument("--screenshot", help="where to save the window's PNG")
    p.add_argument("--pipeline", help="a pipeline JSON (or PNG) instead of the default pipeline")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds the run may take (300)")
    args = p.parse_args(argv)
    return run_selftest(args.screenshot, args.pipeline, args.timeout)


if __name__ == "__main__":
    sys.exit(main())

"""UI responsiveness of the desktop app.

1. Event-loop latency while a 10,000-particle run streams to the trajectory view: a 10 ms timer
   runs in the UI thread during the run; its lateness (time between ticks minus 10 ms) is the
   latency a click or a key press would see, with 1, 2 and 4 branches (``--branches``).
   Aim: p99 <= 50 ms. The same while the Comparison workspace runs a comparison and while the
   Training workspace trains (its default preset, 20 s).
2. Time to a visible main window after ``studio`` starts: from launching the ``studio`` entry
   point in a fresh process to the window's first paint. Aim: median <= 2 s.
3. CPU of an idle window (after its start-up loads): process CPU time over wall time. Aim: 0.
4. Command-line latency: ``studio --help`` (aim < 0.3 s), ``studio solvers`` and
   ``studio models list`` (aim < 1.5 s), wall time of a fresh process, best and median of 3.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py [--particles 10000] [--steps 600]

Prints a summary and writes benchmarks/results/ui_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))     # this checkout's studio, not an installed one
RESULTS = os.path.join(HERE, "results", "ui_latency.json")

# Run in a fresh interpreter: the real `studio` entry point, with a probe that reports the
# window's first paint and then closes it.
STARTUP_CHILD = r"""
import sys, time
import studio.app   # first, as the `studio` entry point imports it: the engine before PySide6
from PySide6.QtCore import QEvent, QObject, QTimer
import studio.app.mainwindow as mw

class Probe(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.done = False
    def eventFilter(self, obj, ev):
        if not self.done and ev.type() == QEvent.Paint:
            self.done = True
            print(f"VISIBLE {time.time():.6f} {time.process_time():.3f}", flush=True)
            self.win.ask_to_save = False
            QTimer.singleShot(0, self.win.close)
        return False

_init = mw.MainWindow.__init__
def init(self, *a, **k):
    _init(self, *a, **k)
    self._probe = Probe(self)
    self.installEventFilter(self._probe)
mw.MainWindow.__init__ = init
from studio.cli.main import main
sys.exit(main([]))
"""


def installed_env(**extra) -> dict:
    """The environment of a child process, with Python's bytecode caches on, as a pip-installed
    package has them (``PYTHONDONTWRITEBYTECODE`` in the caller's environment would make every
    child compile the studio's modules from source: a few tenths of a second of start-up that
    no installed copy pays)."""
    env = dict(os.environ, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def startup(repeats: int) -> dict:
    times, cpu = [], []
    with tempfile.TemporaryDirectory() as cfg:
        env = installed_env(XDG_CONFIG_HOME=cfg)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        for i in range(repeats + 1):     # the first run writes the bytecode caches: not timed
            t0 = time.time()
            r = subprocess.run([sys.executable, "-c", STARTUP_CHILD], env=env, capture_output=True,
                               text=True, timeout=120)
            line = next((ln for ln in r.stdout.splitlines() if ln.startswith("VISIBLE")), None)
            if line is None:
                raise RuntimeError(f"the window never became visible:\n{r.stderr[-2000:]}")
            if i:
                times.append(float(line.split()[1]) - t0)
                cpu.append(float(line.split()[2]))
    # cpu_s: the child's CPU time up to its first paint (interpreter start excluded): on a loaded
    # machine the wall time mostly measures waiting for a core
    return {"visible_s": [round(t, 3) for t in times], "median_s": round(float(np.median(times)), 3),
            "best_s": round(min(times), 3), "cpu_s": [round(c, 3) for c in cpu],
            "target_s": 2.0}


IDLE_CHILD = r"""
import sys, time
from PySide6.QtCore import QSettings, QTimer
from studio.app.main import make_app
from studio.app import gcguard
from studio.app.jobs import registry
from studio.app.mainwindow import MainWindow
app = make_app()
gcguard.install(app)
win = MainWindow(QSettings(sys.argv[1], QSettings.IniFormat))
win.ask_to_save = False
win.show()
def settle():
    while registry().busy():
        QTimer.singleShot(200, app.quit); app.exec()
QTimer.singleShot(3000, app.quit); app.exec()
settle()
c0, t0 = time.process_time(), time.time()
QTimer.singleShot(int(float(sys.argv[2]) * 1000), app.quit); app.exec()
print(f"IDLE {100 * (time.process_time() - c0) / (time.time() - t0):.3f}", flush=True)
"""


def idle_cpu(seconds: float = 10.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        r = subprocess.run([sys.executable, "-c", IDLE_CHILD, os.path.join(tmp, "s.ini"),
                            str(seconds)], env=env, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("IDLE")), None)
    if line is None:
        raise RuntimeError(f"the idle probe failed:\n{r.stderr[-2000:]}")
    return {"seconds": seconds, "cpu_percent": float(line.split()[1]), "target_percent": 0.0}


def cli(repeats: int = 3) -> dict:
    """Fresh processes. The registry tables (``studio solvers``) and the model library's cards
    (``studio models list``) are cached per version of their sources (and, for models, of each
    file): ``cold_s`` is the first listing with an empty cache (it imports torch), the others are
    listings with the cache filled by it."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = installed_env(OMP_NUM_THREADS="1", STUDIO_CACHE_DIR=cache)
        subprocess.run([sys.executable, "-m", "studio", "--help"], env=env,  # bytecode caches
                       capture_output=True, timeout=300, check=True)
        for args, target in ((["--help"], 0.3), (["solvers"], 1.5), (["models", "list"], 1.5)):
            times = []
            cold = args in (["solvers"], ["models", "list"])
            for _ in range(repeats + cold):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "studio", *args], env=env,
                               capture_output=True, timeout=300, check=True)
                times.append(time.perf_counter() - t0)
            row = {}
            if cold:
                row["cold_s"] = round(times.pop(0), 3)
            out[" ".join(args)] = dict(row, best_s=round(min(times), 3),
                                       median_s=round(float(np.median(times)), 3),
                                       target_s=target)
    return out


def _pct(values, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def _window():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from studio.app.main import make_app, tune_gc
    from studio.app.mainwindow import MainWindow

    app = make_app()
    tmp = tempfile.mkdtemp()
    win = MainWindow(QSettings(os.path.join(tmp, "s.ini"), QSettings.IniFormat))
    win.ask_to_save = False
    win.show_dialogs = False
    win.show()
    app.processEvents()
    tune_gc()                   # as `studio` does once its window is up
    return app, win


def _settle(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def latency(particles: int, steps: int, branches: int) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer

    from studio.app.views.branch import PointsView

    app, win = _window()
    win.doc.set_run("batch", particles)
    win.doc.set_param("dpm-solver++-2m", "steps", steps)
    for i in range(1, branches):
        nid = win.doc.add_node("solver", "euler", {"steps": steps}, (540, 200 * i))
        win.doc.link("network", nid)
    win.panel.trails_box.setChecked(True)
    # the user presses Run once the pipeline is built, not in the same event-loop turn: the
    # window has had a moment for its data preview and the plots of the branches
    _settle(app, 1.0)

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    updates = [0]
    costs: list[float] = []        # UI-thread CPU ms per live update: building it + repainting

    def updated():
        updates[0] += 1
        # the views the update changed (one per update: the panel updates them in turn)
        views = [v for v in win.panel.painted if isinstance(v, PointsView)]
        costs.append(win.panel.update_cpu_ms + sum(v.plot.paint_cpu_ms for v in views))

    win.controller.updated.connect(updated)
    loop = QEventLoop()
    status = {}

    def finished(s, m):
        status["status"], status["message"] = s, m
        loop.quit()

    win.runFinished.connect(finished)
    timer.start()
    t0 = time.perf_counter()
    win.run()
    loop.exec()
    t1 = time.perf_counter()
    timer.stop()
    gaps = np.diff(np.asarray(ticks)) * 1e3
    late = np.clip(gaps - 10.0, 0, None)
    out = {"particles": particles, "steps": steps, "branches": branches,
           "status": status.get("status"), "run_s": round(t1 - t0, 3),
           "view_updates": updates[0], "updates_per_s": round(updates[0] / (t1 - t0), 1),
           "ticks": len(ticks),
           "latency_p50_ms": round(float(np.percentile(late, 50)), 2),
           "latency_p99_ms": round(float(np.percentile(late, 99)), 2),
           "latency_max_ms": round(float(late.max()), 2), "target_p99_ms": 50.0,
           "ui_cpu_per_update_ms_p50": _pct(costs[2:], 50),
           "ui_cpu_per_update_ms_p99": _pct(costs[2:], 99)}
    if status.get("status") != "finished":
        out["message"] = status.get("message")
    win.close()
    return out


def _ticked(app, start, finished, limit_s: float, stop=None) -> dict:
    """Event-loop lateness of a 10 ms UI timer from ``start()`` until ``finished`` (a signal)
    fires, or until ``limit_s`` passes, when ``stop()`` ends the work (waited for)."""
    from PySide6.QtCore import QEventLoop, QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    loop = QEventLoop()
    status = {}

    def done(s, m):
        status["status"], status["message"] = s, m
        loop.quit()

    finished.connect(done)
    limit = QTimer()
    limit.setSingleShot(True)
    limit.timeout.connect(lambda: (timer.stop(), stop() if stop else None))
    timer.start()
    t0 = time.perf_counter()
    if not start():
        raise RuntimeError("the work did not start")
    limit.start(int(limit_s * 1000))
    loop.exec()
    t1 = time.perf_counter()
    timer.stop()
    gaps = np.diff(np.asarray(ticks)) * 1e3
    late = np.clip(gaps - 10.0, 0, None)
    return {"status": status.get("status"), "measured_s": round(min(t1 - t0, limit_s), 3),
            "ticks": len(ticks), "latency_p50_ms": _pct(late, 50), "latency_p99_ms": _pct(late, 99),
            "latency_max_ms": round(float(late.max()), 2) if len(late) else None,
            "target_p99_ms": 50.0}


def latency_compare(batch: int = 4000) -> dict:
    """While the Comparison workspace runs the default pipeline's solvers at 4 NFE budgets
    (cells stream into the grid, the error plot and the table)."""
    app, win = _window()
    ws = win.compare
    win.workspaces.show("compare")
    ws.setup.from_document()
    ws.setup.nfes.setText("5, 10, 20, 40")
    ws.setup.batch.setValue(batch)
    _settle(app, 1.0)
    out = _ticked(app, ws.run, ws.session.finished, limit_s=60.0, stop=ws.cancel)
    out.update(work=f"comparison of the default pipeline's solvers, NFE 5/10/20/40, batch {batch}",
               cells=len(ws.session.comparison.results) if ws.session.comparison else 0)
    win.close()
    return out


def latency_training(seconds: float = 20.0) -> dict:
    """While the Training workspace trains its default preset (loss curve and sample previews
    update live), for ``seconds``, then cancelled."""
    app, win = _window()
    panel = win.training_panel
    win.workspaces.show("training")
    _settle(app, 1.0)
    out = _ticked(app, panel.train, panel.controller.finished, limit_s=seconds,
                  stop=panel.controller.cancel)
    out.update(work=f"training the default preset, {seconds:.0f} s then cancelled")
    win.close()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--particles", type=int, default=10000)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--startup-repeats", type=int, default=3)
    p.add_argument("--branches", default="1,2,4", help="branch counts to stream, comma-separated")
    p.add_argument("--out", default=RESULTS)
    p.add_argument("--note", default="", help="saved with the results (e.g. what else loaded the "
                   "machine)")
    args = p.parse_args()
    res = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cpus": os.cpu_count(), "qpa": os.environ.get("QT_QPA_PLATFORM", ""),
                       "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                       "note": args.note},
           "latency": [latency(args.particles, args.steps, int(b))
                       for b in args.branches.split(",")],
           "during_compare": latency_compare(),
           "during_training": latency_training(),
           "startup": startup(args.startup_repeats),
           "idle": idle_cpu(),
           "cli": cli()}
    res["machine"]["load_avg_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=2)
    for lat in res["latency"]:
        print(f"event-loop latency, {lat['particles']} particles x {lat['branches']} branch(es), "
              f"{lat['steps']} steps ({lat['run_s']} s, {lat['updates_per_s']} view updates/s): "
              f"p50 {lat['latency_p50_ms']} ms, p99 {lat['latency_p99_ms']} ms, "
              f"max {lat['latency_max_ms']} ms (target p99 < 50 ms); UI-thread CPU per update "
              f"p50 {lat['ui_cpu_per_update_ms_p50']} ms, p99 {lat['ui_cpu_per_update_ms_p99']} ms")
    for key in ("during_compare", "during_training"):
        lat = res[key]
        print(f"event-loop latency during {lat['work']}: p50 {lat['latency_p50_ms']} ms, p99 "
              f"{lat['latency_p99_ms']} ms, max {lat['latency_max_ms']} ms (target p99 < 50 ms)")
    st = res["startup"]
    print(f"time to a visible main window: median {st['median_s']} s, best {st['best_s']} s "
          f"over {len(st['visible_s'])} starts (target <= 2 s); CPU time per start "
          f"{', '.join(map(str, st['cpu_s']))} s")
    print(f"idle window: {res['idle']['cpu_percent']} % CPU over {res['idle']['seconds']} s "
          "(target 0)")
    for cmd, r in res["cli"].items():
        print(f"studio {cmd}: best {r['best_s']} s, median {r['median_s']} s "
              f"(target < {r['target_s']} s)")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The app's one job service: generator jobs, throttled updates, cancel and shutdown, the one
mapping of exceptions to messages, the registry the status bar reads, the small loaders."""
from __future__ import annotations

import threading
import time

import pytest
import torch

from studio.app.jobs import JobRunner, Loader, error_message, registry
from studio.core.errors import StudioError


@pytest.fixture
def runner(qtbot):
    from studio.app.main import make_app
    make_app()
    r = JobRunner(fps=50)
    yield r
    r.shutdown()


def finish(qtbot, runner, name, fn, timeout=10000, **kw):
    with qtbot.waitSignal(runner.finished, timeout=timeout) as blocker:
        assert runner.start(name, fn, **kw)
    return blocker.args


def test_a_generator_job_streams_its_yields_in_order(runner, qtbot):
    got = []
    runner.items.connect(got.extend)

    def job(ctx):
        for i in range(50):
            yield i
        return "all done"
    name, status, message, result = finish(qtbot, runner, "count", job)
    assert (name, status, message, result) == ("count", "finished", "", "all done")
    assert got == list(range(50))
    assert not runner.running and registry().last == ("count", "finished")


def test_updates_are_throttled(runner, qtbot):
    progress = []
    runner.progress.connect(lambda f, t: progress.append(f))

    def job(ctx):
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < 0.4:
            n += 1
            ctx.progress(n / 1e9, "busy")
        return n
    t0 = time.perf_counter()
    *_, n = finish(qtbot, runner, "busy", job)
    elapsed = time.perf_counter() - t0
    assert n > 1000                             # far more reports than updates
    assert 1 <= len(progress) <= elapsed * 50 + 3


def test_cancel_stops_a_generator_between_yields_and_shutdown_waits(runner, qtbot):
    seen = threading.Event()

    def forever(ctx):
        while True:
            seen.set()
            time.sleep(0.005)
            yield None
    assert runner.start("forever", forever)
    assert seen.wait(5)
    assert "forever" in registry().active()
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        assert runner.cancel()
    assert blocker.args[1] == "cancelled"
    assert "forever" not in registry().active()
    # shutdown: cancel and wait, also for a job with its own cancel control
    stop = threading.Event()

    def controlled(ctx):
        while not stop.is_set():
            time.sleep(0.005)
        return "stopped by its control"
    assert runner.start("controlled", controlled, on_cancel=stop.set)
    assert runner.shutdown(5000) and not runner.running
    assert registry().last == ("controlled", "finished")


def test_one_mapping_of_exceptions_to_messages(runner, qtbot, monkeypatch, tmp_path):
    def oom(ctx):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    _, status, message, _ = finish(qtbot, runner, "oom", oom)
    assert status == "failed" and message.startswith("CUDA out of memory: reduce the batch size")
    assert "run on the CPU" in message

    def no_ram(ctx):
        raise MemoryError()
    assert finish(qtbot, runner, "ram", no_ram)[2] == "out of memory: reduce the batch size"

    def bad_input(ctx):
        raise StudioError("solver 'euler', field steps: must be >= 1")
    assert tuple(finish(qtbot, runner, "bad", bad_input)[1:3]) == (
        "failed", "solver 'euler', field steps: must be >= 1")

    def plugin_bug(ctx):
        return {}["missing"]
    monkeypatch.setenv("STUDIO_CRASH_DIR", str(tmp_path))
    _, status, message, _ = finish(qtbot, runner, "bug", plugin_bug)
    assert status == "failed" and message.startswith("KeyError: 'missing'")
    assert "please report it" in message and "\n" not in message     # one sentence
    report = message.split("crash report: ")[1].split(" ")[0]          # the traceback is there
    assert report.startswith(str(tmp_path)) and "plugin_bug" in open(report).read()
    assert error_message(MemoryError(), "make the grid smaller") == (
        "failed", "out of memory: make the grid smaller")


def test_the_loader_answers_in_the_ui_thread(qtbot):
    from studio.app.main import make_app
    make_app()
    loader = Loader()
    answers = []
    ui = threading.get_ident()
    loader.submit(lambda: 6 * 7, lambda r, e: answers.append((r, e, threading.get_ident())))
    loader.submit(lambda: 1 / 0, lambda r, e: answers.append((r, e, threading.get_ident())))
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=5000)
    assert answers[0] == (42, "", ui)
    assert answers[1][0] is None and "ZeroDivisionError" in answers[1][1]
    assert answers[1][2] == ui
    assert loader.wait(1000)


def test_the_status_bar_names_the_running_job(win, qtbot):
    runner = JobRunner(win)          # any workspace's runner reports to the same registry
    release = threading.Event()
    assert runner.start("comparison", lambda ctx: release.wait(5))
    qtbot.waitUntil(lambda: "Comparison" in win.progress.job.full_text(), timeout=3000)
    assert win.progress.job.full_text().startswith("▶")
    release.set()
    assert runner.wait(5000)
    qtbot.waitUntil(lambda: win.progress.job.full_text() == "comparison: done", timeout=3000)

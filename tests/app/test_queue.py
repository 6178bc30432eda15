"""The queue: Shift+Run queues; queued runs equal direct runs bit for bit and land in the Gallery;
reorder, pause, cancel; the queue survives a restart (pending restored, a crashed run marked)."""
from __future__ import annotations

import json

import torch
from PySide6.QtCore import Qt

from .conftest import set_small, wait_run


def test_shift_run_queues_and_the_result_equals_a_direct_run(win, qtbot, monkeypatch):
    set_small(win, batch=64, steps=5)
    win.doc.set_run("seed", 11)
    with qtbot.waitSignal(win.runFinished, timeout=30000):
        assert win.run()
    direct = {b: r.samples.clone() for b, r in win.state.results().items()}
    win.comfort.store.wait()                       # the direct run's picture is written
    qtbot.waitUntil(lambda: len(win.comfort.store.items) >= len(direct), timeout=10000)
    gallery_before = len(win.comfort.store.items)
    queue = win.job_queue
    # Shift+Run: the run is queued, not started in the window
    monkeypatch.setattr("studio.app.mainwindow.QGuiApplication.keyboardModifiers",
                        lambda: Qt.ShiftModifier)
    with qtbot.waitSignal(queue.jobFinished, timeout=30000) as blocker:
        assert win.run()
        assert not win.controller.running
    job, state = blocker.args
    assert job.status == "finished" and job.title == win.doc.title
    queued = {b: r.samples for b, r in state.results().items()}
    assert queued.keys() == direct.keys()
    for b in direct:
        assert torch.equal(queued[b], direct[b]), b      # bit-identical
    # every branch landed in the Gallery, with the pipeline
    win.comfort.store.wait()
    qtbot.waitUntil(lambda: len(win.comfort.store.items) >= gallery_before + len(direct),
                    timeout=10000)
    assert all(i.meta["source"].startswith("queue: ")
               for i in win.comfort.store.items[:len(direct)])
    assert win.queue_panel.list.count() == 1 and "finished" in win.queue_panel.list.item(0).text()


def test_reorder_pause_cancel_and_restart(tmp_path, qtbot):
    from studio.app.jobqueue import JobQueue
    from studio.app.main import make_app
    from studio.app.defaults import default_pipeline
    make_app()
    path = str(tmp_path / "queue.json")
    q = JobQueue(path)
    q.set_paused(True)
    pipes = []
    for seed in (1, 2, 3):
        p = default_pipeline()
        p["run"] = dict(p.get("run", {}), seed=seed, batch=16)
        pipes.append(q.add(p, f"seed {seed}"))
    assert [j.status for j in q.jobs] == ["pending"] * 3 and not q.running   # paused
    assert q.move(pipes[2].id, -2)
    assert [j.title for j in q.jobs] == ["seed 3", "seed 1", "seed 2"]
    assert q.cancel(pipes[0].id) and pipes[0].status == "cancelled"
    assert [j.title for j in q.pending()] == ["seed 3", "seed 2"]
    # a crash while "seed 3" runs: the file says running
    data = json.load(open(path))
    data["jobs"][0]["status"] = "running"
    data["paused"] = False
    json.dump(data, open(path, "w"))
    q2 = JobQueue(path)
    assert [(j.title, j.status) for j in q2.jobs] == [
        ("seed 3", "interrupted"), ("seed 1", "cancelled"), ("seed 2", "pending")]
    assert q2.paused                       # restored work waits for the user
    assert q2.jobs[2].pipeline["run"]["seed"] == 2
    with qtbot.waitSignal(q2.jobFinished, timeout=30000) as blocker:
        q2.set_paused(False)
    assert blocker.args[0].title == "seed 2" and blocker.args[0].status == "finished"
    assert q2.remove_done() == 3 and q2.jobs == []
    # a pipeline that cannot build is refused when queued, with the reason
    bad = default_pipeline()
    bad["nodes"][next(k for k, n in bad["nodes"].items() if n["type"] == "network")][
        "params"] = {"means": [[0.0, 0.0, 0.0]], "vars": [1.0, 1.0]}
    import pytest
    from studio.core.errors import StudioError
    with pytest.raises(StudioError):
        q2.add(bad, "bad")


def test_the_queue_survives_a_window_restart(win, qtbot, settings):
    set_small(win, batch=32, steps=4)
    win.job_queue.set_paused(True)
    assert win.queue_run() and win.queue_run()
    win.close()
    from studio.app.mainwindow import MainWindow
    w2 = MainWindow(settings)
    w2.ask_to_save = w2.show_dialogs = False
    qtbot.addWidget(w2)
    assert len(w2.job_queue.pending()) == 2 and w2.job_queue.paused
    assert w2.queue_panel.list.count() == 2
    assert "queued run(s) restored" in w2.log.text()
    assert "queue" in w2.workspaces.order
    w2.job_queue.set_paused(False)
    qtbot.waitUntil(lambda: not w2.job_queue.pending() and not w2.job_queue.running,
                    timeout=60000)
    assert [j.status for j in w2.job_queue.jobs] == ["finished", "finished"]
    w2.close()


def test_a_queued_training_lands_in_the_library(win, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(tmp_path / "library"))
    s = win.training_panel.settings
    s.apply_preset("Two moons · MLP, eps on VP")
    s.name.setText("Queued moons")
    s.data.set("moons", {"n": 300})
    s.arch.set("mlp", {"width": 16, "depth": 1, "emb_dim": 8})
    s.budget.set_values({"steps": 4, "batch": 32})
    s.optim.set_values({"warmup": 1})
    s.preview.set_values({"every": 0, "count": 50, "steps": 4})
    with qtbot.waitSignal(win.job_queue.jobFinished, timeout=60000) as blocker:
        assert win.queue_training()
    job, state = blocker.args
    assert job.kind == "train" and state is None
    assert job.status == "finished", job.message
    assert (tmp_path / "library" / "queued-moons.safetensors").exists()
    assert "queued-moons.safetensors" in job.message


def test_a_queued_comparison_is_saved_and_opens(win, qtbot):
    from studio.core.compare import Comparison

    from .test_compare_workspace import setup_form
    setup_form(win.compare, solvers=("euler",), nfes="4", batch=24, metrics=("rmse", "nfe"))
    with qtbot.waitSignal(win.job_queue.jobFinished, timeout=60000) as blocker:
        assert win.queue_comparison()
    job, _ = blocker.args
    assert job.kind == "compare" and job.status == "finished", job.message
    comp = Comparison.load(job.message)
    assert len(comp.results) == 1
    win.queue_panel.list.setCurrentRow(0)
    assert win.queue_panel.open_button.isEnabled()
    win.queue_panel.open_button.click()
    assert win.workspaces.current == "compare" and win.compare.session.path == job.message

"""An honest "Ready to run": the inspector says so only once the pipeline really built and its
labels fit the network; swapping in an unconditional model drops the labels in the same edit."""
from __future__ import annotations

from studio.app.readiness import check, labels_problem
from studio.core import catalog


def summary(win, qtbot) -> str:
    win.inspector.show_nodes([])
    qtbot.waitUntil(lambda: "Checking" not in win.inspector.summary_label.text(), timeout=20000)
    return win.inspector.summary_label.text()


def test_ready_only_when_it_builds_and_the_labels_fit(win, qtbot):
    assert "Ready to run: 1 solver branch" in summary(win, qtbot)
    win.doc.set_run("labels", 3)                      # the default mixture is unconditional
    text = summary(win, qtbot)
    assert "Cannot run" in text and "unconditional" in text and "run.labels" in text
    assert "Ready" not in text
    assert win.inspector.ready_problem.startswith("run.labels")
    win.doc.undo_stack.undo()
    assert "Ready to run" in summary(win, qtbot)


def test_labels_against_the_classes():
    assert labels_problem(None, 0) is None and labels_problem([0, 9], 10) is None
    assert "out of range" in labels_problem(12, 10) and "0 to 9" in labels_problem([1, 12], 10)
    assert "unconditional" in labels_problem(0, 0)
    from studio.app.defaults import default_pipeline
    bad = default_pipeline()
    bad["nodes"]["network"] = {"type": "network", "kind": "file",
                               "params": {"path": "/nowhere/model.safetensors"}}
    msg = check(bad, None)
    assert "node 'network'" in msg and "file not found" in msg


def test_an_unconditional_model_drops_the_labels_in_the_same_edit(win, qtbot):
    win.doc.set_run("labels", 2)
    entry = next(e for e in catalog.builtin() if e.name == "two-moons")
    win.use_model(entry)
    assert win.doc.run.labels is None
    assert "labels were dropped" in win.log.text()
    win.undo_action.trigger()                          # one undo: the model and the labels
    assert win.doc.run.labels == 2
    assert win.doc.nodes["network"].params == catalog.get("eight-gaussians").node["params"]


def test_run_settings_have_one_set_of_limits(win):
    from studio.app.runspecs import RUN_SPECS, check_run
    from studio.core.errors import StudioError
    seed, batch = RUN_SPECS["seed"], RUN_SPECS["batch"]
    seeds = [win.toolbar.seed, win.compare.setup.seed, win.training_panel.settings.seed,
             win.inverse_panel.sampler.seed]
    assert {(s.minimum(), s.maximum()) for s in seeds} == {(seed.min, seed.max)}
    assert (win.toolbar.batch.minimum(), win.toolbar.batch.maximum()) == (batch.min, batch.max)
    assert win.compare.setup.batch.maximum() == batch.max
    assert win.inverse_panel.sampler.batch.maximum() <= batch.max      # a lower cap, same floor
    assert [win.toolbar.dtype.itemText(i) for i in range(win.toolbar.dtype.count())] == list(
        RUN_SPECS["dtype"].choices)
    assert check_run("seed", 7) == 7
    for name, bad in (("batch", 0), ("seed", -1), ("dtype", "float8")):
        try:
            check_run(name, bad)
        except StudioError as exc:
            assert f"run.{name}" in str(exc)
        else:
            raise AssertionError(f"{name}={bad!r} accepted")

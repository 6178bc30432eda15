"""Classifier guidance in the app: the bundled noise-conditional classifier is in the model
browser; using it puts a classifier guidance node between the network and the solver (one undoable
edit), the run matches the engine, and the training panel trains a classifier into the library."""
from __future__ import annotations

import torch

from studio.core.modelfile import read_info

from .conftest import set_small, wait_run
from .test_training_panel import click, library, recorder  # noqa: F401 - fixtures


def entry(win, qtbot, name):
    model = win.browser.model

    def find():
        return next((e for e in model.entries if e.name == name), None)
    if find() is None:
        with qtbot.waitSignal(model.listed, timeout=60000):
            model.refresh()
    found = find()
    assert found is not None, [e.name for e in model.entries]
    return found


def test_the_bundled_classifier_guides_the_digits_model(win, qtbot):
    clf = entry(win, qtbot, "digits-classifier")
    assert clf.node == {"type": "guidance", "kind": "classifier",
                        "params": {"classifier": "assets:digits-classifier.safetensors"}}
    assert "classifier" in clf.tags
    win.browser.select("digits-classifier")
    assert "logits" in win.browser.card.toPlainText()
    win.use_model(entry(win, qtbot, "digits"))
    net = win.doc.of_type("network")[0]
    (solver,) = win.doc.of_type("solver")
    before = (sorted(win.doc.links), win.doc.run.labels, dict(win.doc.nodes[solver].__dict__))
    assert win.doc.run.labels is None
    # double-click in the browser: a guidance node between network and solver, labels set
    with qtbot.waitSignal(win.browser.useRequested):
        win.browser.list.doubleClicked.emit(win.browser.model.index_of("digits-classifier"))
    (guide,) = win.doc.of_type("guidance")
    node = win.doc.nodes[guide]
    assert node.kind == "classifier"
    assert node.params["classifier"] == "assets:digits-classifier.safetensors"
    assert (net, guide) in win.doc.links and (guide, solver) in win.doc.links
    assert (net, solver) not in win.doc.links
    assert win.doc.run.labels == 0 and win.doc.problem() is None
    assert win.doc.nodes[solver].pos[0] > node.pos[0] > win.doc.nodes[net].pos[0]
    # one undo takes it all back
    win.undo_action.trigger()
    assert not win.doc.of_type("guidance")
    assert (sorted(win.doc.links), win.doc.run.labels) == before[:2]
    assert win.doc.nodes[solver].pos == before[2]["pos"]
    win.redo_action.trigger()
    assert win.doc.of_type("guidance") == [guide]
    # a second use only swaps the classifier of the existing node
    win.use_model(clf)
    assert win.doc.of_type("guidance") == [guide]
    # run: the view holds the engine's samples for the same seed, guided towards the labels
    set_small(win, batch=10, steps=10)
    win.doc.set_param(guide, "scale", 3.0)
    win.doc.set_run("labels", list(range(10)))
    assert win.run()
    status, message = wait_run(qtbot, win, timeout=60000)
    assert status == "finished", message
    shown = win.state.results()[solver].samples
    direct = win.doc.to_pipeline().build().run()[solver].samples
    torch.testing.assert_close(shown, direct, rtol=1e-5, atol=1e-6)
    assert shown.shape == (10, 1, 8, 8)
    # the samples are the requested digits (read by the classifier at its cleanest time)
    g = win.doc.to_pipeline().build().guidance[guide]
    m = g._loaded
    x0 = m.spec.to_model_units(shown.float())
    t = torch.full((10,), float(m.model.process.t_min), dtype=torch.float64)
    with torch.no_grad():
        read = m.model(x0, t).argmax(1)
    assert int((read == torch.arange(10)).sum()) >= 8


def test_the_training_panel_trains_a_classifier_into_the_library(win, qtbot, library):  # noqa: F811
    panel = win.training_panel
    s = panel.settings
    s.apply_preset("Digits 8×8 · noise-conditional classifier (classifier guidance)")
    s.name.setText("Tiny digits classifier")
    s.arch.set("classifier", {"channels": 8, "mults": [1, 2], "blocks": 1, "groups": 4,
                              "emb_dim": 16})
    s.budget.set_values({"steps": 30, "batch": 32})
    s.optim.set_values({"warmup": 5})
    s.log_every.setValue(10)
    ends = recorder(panel)
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: bool(ends), timeout=120000)
    assert ends[0][0] == "finished", ends
    snap = panel.session.snapshot()
    assert snap.is_classifier and snap.preview is None and len(snap.losses) == 3
    assert "classifier makes no samples" in panel.samples.header.text()
    (path,) = library.glob("*.safetensors")
    info = read_info(str(path))
    assert info.spec.is_classifier and info.spec.num_classes == 10
    assert [a["logsnr"] for a in info.spec.training["accuracy"]][0] == 8.0
    # the browser lists it as a classifier (a guidance node), not as a network
    qtbot.waitUntil(lambda: any(e.name == path.stem for e in win.browser.model.entries),
                    timeout=30000)
    e = next(e for e in win.browser.model.entries if e.name == path.stem)
    assert e.node["type"] == "guidance" and e.node["params"]["classifier"] == str(path)

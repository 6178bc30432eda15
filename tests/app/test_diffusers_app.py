"""Diffusers folders in the app: "Add folder…" lists them with their cards, opening one sets the
matching process node, and a run shows a linear latent preview per step and the VAE decode at
the end (the engine's own samples)."""
from __future__ import annotations

import pytest
import torch

from ..core import hf_fixtures as F
from .conftest import wait_run

pytest.importorskip("diffusers")
pytest.importorskip("transformers")


def test_add_folder_card_open_and_run(win, qtbot, tmp_path):  # noqa: C901
    root = tmp_path / "models"
    root.mkdir()
    F.make_sd(str(root))
    model = win.browser.model
    with qtbot.waitSignal(model.listed, timeout=60000):
        win.browser.add_folder(str(root))
    entry = next(e for e in model.entries if e.name == "sd")
    assert entry.node == {"type": "network", "kind": "diffusers", "params": {"path": str(root / "sd")}}
    win.browser.select("sd")
    card = win.browser.card.toPlainText()
    for text in ("Stable Diffusion", "16x16", "epsilon", "DDIMScheduler", "size on disk",
                 "CLIPTextModel", "F32"):
        assert text in card, text
    with qtbot.waitSignal(win.browser.useRequested):
        win.browser.list.doubleClicked.emit(model.index_of("sd"))
    doc = win.doc
    (net,) = doc.of_type("network")
    (proc,) = doc.of_type("process")
    # the folder's process is one undoable edit
    qtbot.waitUntil(lambda: doc.nodes[proc].kind == "ddpm-discrete", timeout=5000)
    doc.undo_stack.undo()
    assert doc.nodes[proc].kind != "ddpm-discrete" and doc.nodes[net].kind == "diffusers"
    doc.undo_stack.redo()
    assert doc.nodes[net].kind == "diffusers"
    assert doc.nodes[proc].kind == "ddpm-discrete"
    assert doc.nodes[proc].params["beta_schedule"] == "scaled_linear"
    assert doc.run.batch <= 16 and doc.run.dtype == "float32"
    doc.set_param(net, "prompt", "a red fox")
    doc.set_run("batch", 2)
    for nid in doc.of_type("solver"):
        doc.set_param(nid, "steps", 3)
    assert win.run()
    status, message = wait_run(qtbot, win, timeout=60000)
    assert status == "finished", message
    for solver in doc.of_type("solver"):
        frames = win.state.frames(solver)
        live = [f for f in frames if not f.final]
        assert live[1].images.shape == (2, 3, 8, 8)  # the linear preview on the latent grid
        assert frames[-1].final and frames[-1].images.shape == (2, 3, 16, 16)  # the VAE decode
        shown = win.state.results()[solver].samples
        direct = doc.to_pipeline().build().run()[solver].samples
        torch.testing.assert_close(shown, direct, rtol=1e-5, atol=1e-6)
    # export: decoded samples and the final latents, as `studio run` writes them
    import numpy as np
    win.panel.export_npz(str(tmp_path / "run.npz"))
    r = np.load(tmp_path / "run.npz")
    (solver,) = doc.of_type("solver")
    assert r[f"{solver}.samples"].shape == (2, 3, 16, 16)
    assert r[f"{solver}.latents"].shape == (2, 4, 8, 8)
    # without a process node on the canvas, opening the folder inserts one, linked to the network
    doc.remove_nodes([proc])
    assert not doc.of_type("process")
    win.browser.useRequested.emit(entry)
    qtbot.waitUntil(lambda: len(doc.of_type("process")) == 1, timeout=5000)
    (new_proc,) = doc.of_type("process")
    assert doc.nodes[new_proc].kind == "ddpm-discrete" and (new_proc, net) in doc.links

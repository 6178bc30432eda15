"""The training panel (studio/app/training, installed by studio/app/extensions/training.py):
train a tiny model from the window, watch it, pause / resume / cancel / continue, find the model
in the library and the browser, use it in the pipeline; errors become a dialog and a log entry."""
from __future__ import annotations

import json
import os

import pytest
from PySide6.QtCore import Qt

from studio.app.training.presets import PRESETS
from studio.app.training.settings import TrainSettings
from studio.core.nn.registry import ARCHITECTURES
from studio.core.params import param_specs
from studio.core.training import TrainConfig
from tests.app.conftest import set_small, wait_run


@pytest.fixture
def library(tmp_path, monkeypatch):
    """The user's model library, in a temporary folder."""
    folder = tmp_path / "library"
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(folder))
    return folder


def tiny(panel, steps: int, every: int = 0, name: str = "Tiny moons") -> None:
    """A small moons model that trains in a few seconds."""
    s = panel.settings
    s.apply_preset("Two moons · MLP, eps on VP")
    s.name.setText(name)
    s.data.set("moons", {"n": 2000})
    s.arch.set("mlp", {"width": 32, "depth": 1, "emb_dim": 16})
    s.budget.set_values({"steps": steps, "batch": 64})
    s.optim.set_values({"warmup": 5})
    s.preview.set_values({"every": every, "count": 300, "steps": 8})
    s.log_every.setValue(5)


def click(qtbot, button) -> None:
    # the panel refreshes its buttons on its UI timer: give it a moment after a state change
    try:
        qtbot.waitUntil(button.isEnabled, timeout=5000)
    except Exception:  # noqa: BLE001 - reported by the assertion below
        pass
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.LeftButton)


def recorder(panel) -> list:
    """(status, message) of every job that ends."""
    out: list = []
    panel.controller.finished.connect(lambda st, msg: out.append((st, msg)))
    return out


def test_train_export_browse_and_use(win, qtbot, library):
    panel = win.training_panel
    assert win.docks["training"].widget() is panel
    assert any(a.text() == "&Train a model…" for a in win.extra_menu_actions["&Tools"])
    tiny(panel, steps=50, every=25)
    ends = recorder(panel)
    click(qtbot, panel.train_button)
    assert not panel.settings.isEnabled() and not panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: panel.loss.points >= 2, timeout=60000)
    qtbot.waitUntil(lambda: bool(ends), timeout=60000)
    assert ends == [("finished", ends[0][1])]
    s = panel.session.snapshot()
    assert s.status == "finished" and s.step == 50 and len(s.losses) == 10
    assert list(s.loss_steps) == list(range(5, 55, 5))
    assert s.preview is not None and s.preview.step == 50 and s.preview.samples.shape == (300, 2)
    assert panel.samples.mode == "points" and len(panel.samples.samples.data) == 300
    assert len(panel.samples.reference.data) > 0          # the training data behind them
    assert panel.loss.curve.getData()[0].tolist() == list(range(5, 55, 5))
    # the model file is in the (temporary) library, with its training summary
    files = sorted(p.name for p in library.glob("*.safetensors"))
    assert files == ["tiny-moons.safetensors"]
    assert s.model_path == str(library / "tiny-moons.safetensors")
    assert "Finished" in panel.status.text() and "step 50 / 50" in panel.status.text()
    assert panel.card.isVisible() and "final loss" in panel.card.toPlainText()
    assert any(lvl == "ok" and "saved the model" in msg for _, lvl, msg in win.log.entries)
    # the browser lists it again and selects it; its card shows the training summary
    qtbot.waitUntil(lambda: win.browser.current() is not None
                    and win.browser.current().name == "tiny-moons", timeout=30000)
    card = win.browser.card.toPlainText()
    assert "training steps" in card and "50 × batch 64" in card and "moons (2000 items)" in card
    # one click: the pipeline's network is the new model, and the pipeline runs with it
    assert json.loads(win.settings.value("training/last-config"))["name"] == "Tiny moons"
    click(qtbot, panel.use_button)
    net = win.doc.nodes[win.doc.of_type("network")[0]]
    assert net.kind == "file" and net.params == {"path": s.model_path}
    set_small(win, batch=200, steps=6)
    assert win.run()
    status, message = wait_run(qtbot, win)
    assert status == "finished", message


def test_pause_resume_cancel_continue_and_save(win, qtbot, library):
    panel = win.training_panel
    tiny(panel, steps=100000, name="Long moons")
    ends = recorder(panel)
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: len(panel.session.snapshot().losses) >= 2, timeout=60000)
    # pause: the trainer stops after the step in flight and waits
    click(qtbot, panel.pause_button)
    qtbot.waitUntil(lambda: "Paused" in panel.status.text(), timeout=30000)
    assert panel.session.status == "paused" and panel.pause_button.text() == "Resume"
    step = panel.session.step
    qtbot.wait(300)
    assert panel.session.step == step and panel.controller.running
    # resume: it goes on from there
    click(qtbot, panel.pause_button)
    qtbot.waitUntil(lambda: panel.session.step > step + 5, timeout=30000)
    assert panel.pause_button.text() == "Pause"
    # cancel: nothing is saved; the training can continue or be saved as it is
    click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    assert ends[-1][0] == "cancelled" and not list(library.glob("*.safetensors"))
    assert panel.continue_button.isEnabled() and panel.save_button.isEnabled()
    assert panel.train_button.isEnabled() and not panel.use_button.isEnabled()
    stopped = panel.session.step
    click(qtbot, panel.continue_button)
    qtbot.waitUntil(lambda: panel.session.step > stopped + 5, timeout=30000)
    assert len(panel.session.snapshot().losses) > stopped // 5    # the curve goes on
    click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: len(ends) == 2, timeout=30000)
    assert ends[-1][0] == "cancelled"
    click(qtbot, panel.save_button)
    qtbot.waitUntil(lambda: len(ends) == 3, timeout=60000)
    assert ends[-1][0] == "finished"
    path = library / "long-moons.safetensors"
    assert path.is_file() and panel.use_button.isEnabled()
    from studio.core.modelfile import read_info
    assert read_info(str(path)).spec.training["steps"] == panel.session.step
    # closing the window stops a running training
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: panel.session.step > 0, timeout=60000)
    win.close()
    assert not panel.controller.running


def test_errors_give_a_dialog_and_a_log_entry(win, qtbot, library, tmp_path):
    win.show_dialogs = True
    panel = win.training_panel
    ends = recorder(panel)
    empty = tmp_path / "no-images"
    empty.mkdir()
    panel.settings.apply_preset("Image folder · U-Net 32×32, v")
    panel.settings.data.set("image-folder", {"path": str(empty), "size": 8, "channels": 1})
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: bool(ends), timeout=30000)
    assert ends[0][0] == "failed" and "no images" in ends[0][1]
    assert win.log.entries[-1][1] == "error" and "no images" in win.log.entries[-1][2]
    assert win.error_box is not None and win.error_box.isVisible()
    assert win.error_box.windowTitle() == "Training failed"
    win.error_box.close()
    assert panel.train_button.isEnabled() and not panel.save_button.isEnabled()
    assert not panel.continue_button.isEnabled() and not list(library.glob("*"))
    # a value typed wrong in a field: no training, a dialog naming the field
    field = panel.settings.budget.fields["lr"]
    field.edit.setText("fast")
    field.check()
    assert not panel.train()
    assert "optim.lr" in win.log.entries[-1][2] and not panel.controller.running
    win.error_box.close()


def test_settings_forms_follow_the_declarations(qtbot, tmp_path):
    s = TrainSettings()
    qtbot.addWidget(s)
    for name in PRESETS:                       # every preset is a valid configuration
        s.apply_preset(name)
        d = s.to_dict()
        if d["data"]["kind"] == "image-folder":
            d["data"]["params"]["path"] = str(tmp_path)
        TrainConfig.from_dict(d)
    s.apply_preset("Two moons · MLP, eps on VP")
    declared = [p.name for p in param_specs(ARCHITECTURES.get("mlp"))]
    assert list(s.arch.form.fields) == declared and "width" in declared
    s.arch.form.fields["width"].spin.setValue(48)
    s.arch.combo.setCurrentIndex(s.arch.combo.findData("unet"))
    s.arch.combo.activated.emit(s.arch.combo.currentIndex())
    assert s.arch.kind() == "unet" and "mults" in s.arch.form.fields
    s.arch.combo.setCurrentIndex(s.arch.combo.findData("mlp"))
    s.arch.combo.activated.emit(s.arch.combo.currentIndex())
    assert s.arch.params()["width"] == 48                # each kind keeps its values
    solver = s.preview.fields["solver"]                  # choices from the solver registry
    assert "euler" in solver.values and "dpm-solver++-2m" in solver.values
    # the settings are the `studio train` JSON: saved, opened, the same
    path = tmp_path / "moons.json"
    s.save_file(str(path))
    saved = json.loads(path.read_text())
    assert saved["architecture"] == {"id": "mlp", "params": {"width": 48, "depth": 3,
                                                             "emb_dim": 64}}
    cfg = TrainConfig.load(str(path))
    assert cfg.optim.steps == 2000 and cfg.objective.target == "eps"
    s.apply_preset("Digits 8×8 · class-conditional U-Net, v")
    assert s.conditional.isChecked() and s.data.kind() == "digits"
    s.data.set("swiss-roll", {})                       # no labels: not class-conditional
    assert not s.conditional.isChecked() and not s.conditional.isEnabled()
    s.data.set("pinwheel", {})
    assert s.conditional.isEnabled()
    s.load_file(str(path))
    assert s.to_dict() == saved and s.base_dir == os.path.dirname(str(path))

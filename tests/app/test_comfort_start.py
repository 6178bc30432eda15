"""Examples gallery and start page: shown on the first interactive start, one click opens an
example, dismissed for good unless asked for, reopened from Help; File > Examples; the guide."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.app.comfort import examples

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def quick_pictures(monkeypatch):
    """Example pictures without running the examples (one real render is tested below)."""
    monkeypatch.setattr(examples, "render_example",
                        lambda path, cancel=None: np.full((examples.PICTURE, examples.PICTURE, 3),
                                                          90, np.uint8))


def interactive_window(qtbot, settings):
    from studio.app.mainwindow import MainWindow
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def close(w):
    w.ask_to_save = False
    w.close()


def test_start_page_first_start_and_one_click_example(qtbot, settings, quick_pictures):
    w = interactive_window(qtbot, settings)
    qtbot.waitUntil(lambda: w.comfort.start_page is not None and w.comfort.start_page.isVisible(),
                    timeout=10000)
    page = w.comfort.start_page
    assert list(page.cards) == ["mixture_race", "moons", "digits_cfg", "inpainting"]
    assert all(c.isEnabled() for c in page.cards.values())
    # pictures arrive in the background
    qtbot.waitUntil(lambda: all(c.picture.pixmap() is not None and not c.picture.pixmap().isNull()
                                for c in page.cards.values()), timeout=20000)
    # the page covers the window below the menu bar, the panel is centred in it
    assert page.geometry().top() >= w.menuBar().geometry().bottom()
    assert page.rect().contains(page.panel.geometry())
    qtbot.mouseClick(page.cards["mixture_race"], Qt.LeftButton)
    assert not page.isVisible()
    assert w.doc.title == "mixture_race.json"
    assert sorted(w.doc.of_type("solver")) == ["dpm-solver++-2m", "euler", "heun"]
    close(w)
    # seen: not shown at the next start; Help > Start page brings it back
    w2 = interactive_window(qtbot, settings)
    qtbot.wait(50)
    assert w2.comfort.start_page is None or not w2.comfort.start_page.isVisible()
    w2.comfort.start_action.trigger()
    page2 = w2.comfort.start_page
    assert page2.isVisible()
    page2.always.setChecked(True)
    qtbot.keyClick(page2.cards["inpainting"], Qt.Key_Return)       # keyboard opens too
    assert w2.doc.title == "inpainting.json" and not page2.isVisible()
    close(w2)
    w3 = interactive_window(qtbot, settings)                          # "every start"
    qtbot.waitUntil(lambda: w3.comfort.start_page is not None and w3.comfort.start_page.isVisible(),
                    timeout=10000)
    qtbot.keyClick(w3.comfort.start_page.cards["moons"], Qt.Key_Escape)
    assert not w3.comfort.start_page.isVisible()
    close(w3)


def test_no_start_page_for_automation(win, qtbot):
    qtbot.wait(50)
    assert win.comfort.start_page is None


def test_a_real_example_picture():
    (race,) = [e for e in examples.featured() if e.key == "mixture_race"]
    rgb = examples.render_example(race.path)
    assert rgb.shape == (examples.PICTURE, examples.PICTURE, 3)
    amber = (rgb[..., 0] > 200) & (rgb[..., 1] > 150) & (rgb[..., 2] < 120)
    assert 0.01 < amber.mean() < 0.5          # particles drawn, not a blank or a flood


def test_examples_menu_featured_examples_and_guide(win, qtbot, monkeypatch):
    # File > Examples: the examples gallery first, then every example file, titled
    acts = win.menus.examples.actions()
    assert acts[0] is win.examples_gallery_action
    titled = {a.text(): a.data() for a in acts if a.data()}
    assert titled["Solver race on a mixture"].endswith("mixture_race.json")
    assert titled["Inpainting"].endswith("inpainting.json")
    assert set(titled.values()) == {str(p) for p in examples.example_files()}
    next(a for a in acts if a.text() == "Inpainting").trigger()
    assert win.doc.title == "inpainting.json"

    # digits with guidance: the bundled class-conditional model with CFG
    assert (examples.bundled_dir() / "digits.safetensors").is_file()
    (digits,) = [e for e in examples.featured() if e.key == "digits_cfg"]
    assert digits.available
    assert win.comfort.open_example("digits_cfg")
    assert win.doc.problem() is None
    assert win.doc.nodes[win.doc.of_type("guidance")[0]].kind == "cfg"

    # train moons: the Training panel on its moons preset if installed, else the bundled model
    dock = win.comfort.training_dock()
    if dock is not None:
        assert win.comfort.open_example("moons")
        assert dock.isVisible()
        assert dock.widget().settings.to_dict()["data"]["kind"] == "moons"
    monkeypatch.setattr(type(win.comfort), "training_dock", lambda self: None)
    assert win.comfort.open_example("moons")
    net = win.doc.nodes[win.doc.of_type("network")[0]]
    assert net.kind == "file" and net.params["path"] == "assets:moons.safetensors"
    assert win.doc.problem() is None

    # Help > Guide: the panels and the four concepts, README sections in the same browser
    win.comfort.guide_action.trigger()
    dlg = win.comfort.guide
    assert dlg.isVisible()
    text = dlg.browser.toPlainText()
    for word in ("Process", "Network", "Guidance", "Solver", "Gallery", "Trajectories"):
        assert word in text
    assert "readme:Formats" in dlg.browser.toHtml()
    from PySide6.QtCore import QUrl
    dlg.browser.anchorClicked.emit(QUrl("readme:Formats"))
    assert "studio.pipeline/1" in dlg.browser.toPlainText()
    dlg.browser.anchorClicked.emit(QUrl("guide:"))
    assert "Solver" in dlg.browser.toPlainText()
    dlg.close()
    from studio.app.comfort import guide
    if guide.readme_path() is not None:        # every link names a section of the README
        assert all(guide.readme_section(t) for t, _ in guide.README_LINKS)

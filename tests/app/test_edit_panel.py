"""The Edit workspace: invert a component's points, regenerate them with another label."""
from __future__ import annotations

import numpy as np


def test_invert_and_regenerate_with_a_new_label(qtbot, tmp_path):
    from studio.app.edit_panel import EditPanel
    from studio.app.main import make_app
    make_app()
    p = EditPanel()
    qtbot.addWidget(p)
    p.resize(1280, 500)
    p.show()
    i = p.prior_combo.findData("eight-gaussians")
    p.prior_combo.setCurrentIndex(i)
    p.source.setValue(0)
    p.target.setValue(4)
    p.count.setValue(30)
    with qtbot.waitSignal(p.finished, timeout=120000):
        assert p.run()
    r = p.result
    assert r is not None and r.rmse < 1e-4
    means = np.asarray(p.params()["means"])
    comp = ((r.edited[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (comp == 4).mean() > 0.9
    assert "RMSE" in p.status.text()
    assert len(p.scatters[2][1].data) == 30
    np.save(tmp_path / "bad.npy", np.zeros((3, 3)))
    try:
        p.load_points(str(tmp_path / "bad.npy"))
    except Exception as exc:
        assert "[N, 2]" in str(exc)
    else:
        raise AssertionError("a [3, 3] file must be refused")


def test_the_extension_adds_a_dock_and_a_menu_entry(qtbot):
    from studio.app.extensions import edit
    from studio.app.main import make_app
    make_app()

    from PySide6.QtCore import QObject

    from studio.app.workspaces import Provided

    class Page:                        # a lazy page: its widget is built when first asked for
        def __init__(self, make):
            self.make, self.built = make, None

        def widget(self):
            if self.built is None:
                self.built = self.make()
            return self.built

    class Window(QObject):             # what install uses of the main window
        edit_panel = Provided()
        edit_digits = Provided()

        def __init__(self):
            super().__init__()
            self.panels, self.actions = [], []
            self.comfort = None

        def add_panel(self, name, title, widget, area, tabify_with=None):
            self.panels.append((name, title, widget))
            return Page(widget)

        def add_menu_action(self, menu, action):
            self.actions.append((menu, action.text()))

    w = Window()
    edit.install(w)
    assert w.panels[0][:2] == ("edit", "Edit") and w.actions == [("&Tools", "&Edit by inversion")]
    assert Window.edit_panel.pending(w)          # nothing built at start-up...
    qtbot.addWidget(w.edit_panel)                # ...until the panel is asked for
    assert not Window.edit_panel.pending(w) and w.edit_digits is not None


def test_sdedit_mode(qtbot):
    from studio.app.edit_panel import EditPanel
    from studio.app.main import make_app
    make_app()
    p = EditPanel()
    qtbot.addWidget(p)
    p.prior_combo.setCurrentIndex(p.prior_combo.findData("eight-gaussians"))
    p.mode.setCurrentIndex(1)
    p.t_edit.setValue(0.15)
    p.source.setValue(0)
    p.target.setValue(1)
    p.count.setValue(20)
    with qtbot.waitSignal(p.finished, timeout=120000):
        assert p.run()
    r = p.result
    means = np.asarray(p.params()["means"])
    near = lambda xs: ((xs[:, None] - means[None]) ** 2).sum(-1).argmin(1)  # noqa: E731
    assert (near(r.reconstruction) == 0).mean() > 0.8       # small t: the points stay
    assert "SDEdit" in p.status.text()


def test_a_digit_inverted_under_its_label_and_regenerated_under_another(qtbot, tmp_path):
    from studio.app.edit_digits import DigitEditPanel
    from studio.app.main import make_app
    make_app()
    p = DigitEditPanel()
    qtbot.addWidget(p)
    p.show()
    p.index.setValue(3)
    assert p.source.value() == 3            # digit 3 of the data set is a "3"
    p.target.setValue(8)
    with qtbot.waitSignal(p.finished, timeout=120000):
        assert p.run()
    r = p.result
    assert r is not None and r.edited.shape == (1, 1, 8, 8)
    assert r.rmse < 0.1                     # DDIM inversion at 50 steps
    assert float(np.abs(r.edited - r.original).mean()) > 0.05    # the label changed the image
    from PIL import Image
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(tmp_path / "d.png")
    p.load_image(str(tmp_path / "d.png"))
    assert p.image.shape == (1, 8, 8)


def test_sdedit_of_a_digit(qtbot):
    from studio.app.edit_digits import DigitEditPanel
    from studio.app.main import make_app
    make_app()
    p = DigitEditPanel()
    qtbot.addWidget(p)
    p.index.setValue(0)
    p.mode.setCurrentIndex(1)
    p.t_edit.setValue(0.6)
    p.target.setValue(1)
    with qtbot.waitSignal(p.finished, timeout=120000):
        assert p.run()
    r = p.result
    assert r.edited.shape == (1, 1, 8, 8) and "SDEdit" in p.status.text()
    # under its own label the digit stays closer to the original than under another label
    assert np.abs(r.reconstruction - r.original).mean() < np.abs(r.edited - r.original).mean()

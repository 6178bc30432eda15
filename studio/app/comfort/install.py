"""Wiring of the comfort features into the main window (called by
:mod:`studio.app.extensions.comfort`).

Adds the Gallery panel, Edit > Settings…, Help > Guide and Help > Start page, the examples gallery
entry of File > Examples; applies the saved preferences; autosaves the document; after the window
is up, offers to restore a crashed session's pipeline, else shows the start page on the first start
(only for an interactive window: automation and tests turn ``ask_to_save`` / ``show_dialogs`` off).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence

from . import autosave, prefs, theme
from ..colors import restyle
from .examples import ExamplePictures, featured
from .gallery import GalleryStore
from .gallery_panel import GalleryPanel
from .paths import sub_dir
from .pngio import ask_outside, open_png
from .startpage import StartPage, should_show


class Comfort(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.win = window
        window.doc.confirm_outside = lambda path, refs: ask_outside(window, path, refs)
        q = window.settings.q
        self.prefs = prefs.Preferences.load(window.settings)
        prefs.apply(window, self.prefs)

        self.store = GalleryStore(str(sub_dir(q, "gallery")), self)
        self.gallery = GalleryPanel(self.store)
        self.gallery.openRequested.connect(self.open_png)
        self.gallery.message.connect(self._message)
        self.store.message.connect(window.log.warning)
        window.add_workspace("gallery", "Gallery", self.gallery,
                             tip="Every finished run with its pipeline: reopen, export, compare")

        self.pictures = ExamplePictures(sub_dir(q, "thumbs"), self)
        self.start_page: StartPage | None = None
        self.guide = self.settings_dialog = None
        self.autosaver = autosave.AutoSaver(window, sub_dir(q, "autosave"))
        self.autosave_dir = self.autosaver.folder
        self._run = None

        self.settings_action = self._action("Se&ttings…", self.show_settings, "Ctrl+,",
                                            "Device, precision, model library, preview rate, theme")
        self.guide_action = self._action("&Guide", self.show_guide, "F1",
                                         "The panels and the pipeline concepts, with links to the "
                                         "README")
        self.start_action = self._action("&Start page", self.show_start_page, None,
                                         "The examples gallery and recent files")
        window.examples_gallery_action = self._action("Examples &gallery…", self.show_start_page,
                                                      None, "The featured examples with pictures")
        window.add_menu_action("&Edit", self.settings_action)
        window.add_menu_action("&Help", self.guide_action)
        window.add_menu_action("&Help", self.start_action)

        window.controller.started.connect(self._run_started)
        window.runFinished.connect(self._run_finished)
        window.new_action.triggered.connect(lambda: prefs.apply_run_defaults(window, self.prefs))
        window.closing.connect(self.shutdown)
        QTimer.singleShot(0, self._after_start)

    def _action(self, text, slot, shortcut, tip) -> QAction:
        act = QAction(text, self.win)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(tip)
        act.setStatusTip(tip)
        act.triggered.connect(slot)
        return act

    # -- start ---------------------------------------------------------------------------------
    @property
    def interactive(self) -> bool:
        w = self.win
        return bool(w.ask_to_save and w.show_dialogs and w.isVisible())

    def _after_start(self) -> None:
        if theme.current_theme() != "dark":
            # the theme was applied before the later extensions made their plots: restyle them
            restyle()
        self.store.load()
        if not self.interactive:
            return
        if autosave.offer_restore(self.win, self.autosave_dir):
            self.autosaver.flush()
            return
        if should_show(self.win.settings):
            self.show_start_page()

    # -- examples ------------------------------------------------------------------------------
    def show_start_page(self) -> None:
        if self.start_page is None:
            self.start_page = StartPage(self.win, self.pictures, self.examples)
            self.start_page.exampleChosen.connect(self.open_example)
            self.start_page.fileChosen.connect(self._open_file)
        self.start_page.open()

    def training_dock(self):
        """The Training workspace's page, or None when the training extension is absent."""
        if "training" not in self.win.workspaces:     # (without building the page)
            return None
        return self.win.workspaces["training"]

    def examples(self):
        return featured(training=self.training_dock() is not None)

    def open_example(self, key: str) -> bool:
        ex = next((e for e in self.examples() if e.key == key), None)
        if ex is None or not ex.available:
            self.win.report("Cannot open the example", ex.missing if ex else f"no example {key!r}")
            return False
        dock = self.training_dock() if key == "moons" else None
        if dock is not None:
            self._dismiss_start()
            dock.show()
            dock.raise_()
            preset = _moons_preset(self.win.training_panel)
            self.win.log.info("Training: " + (f"the preset “{preset}” is ready; " if preset else
                              "pick the moons data set; ") + "press Train (about a minute on a CPU)")
            return True
        return self._open_file(str(ex.path))

    def _open_file(self, path: str) -> bool:
        if not self.win.maybe_save():
            return False
        ok = self.win.open_path(path)
        if ok:
            self._dismiss_start()
        return ok

    def _dismiss_start(self) -> None:
        if self.start_page is not None:
            self.start_page.dismiss()

    # -- runs and the gallery ------------------------------------------------------------------
    def _run_started(self, info) -> None:
        pipe = self.win.controller.pipeline
        if pipe is not None:
            self._run = (pipe.to_dict(), pipe.base_dir)
        else:
            self._run = (self.win.doc.to_dict(), self.win.doc.base_dir)

    def _run_finished(self, status: str, _message: str) -> None:
        run, self._run = self._run, None
        state = self.win.state
        if status != "finished" or run is None or state.info is None:
            return
        self.store.capture(run[0], run[1], state.info, state.results(), source=self.win.doc.title)

    def open_png(self, path: str) -> bool:
        return self.win.maybe_save() and open_png(self.win, path, trusted=True)  # own gallery

    def _message(self, level: str, text: str) -> None:
        self.win.log.add(level if level in ("ok", "error", "warning") else "info", text)
        self.win.statusBar().showMessage(text, 6000)

    # -- dialogs -------------------------------------------------------------------------------
    def show_settings(self) -> None:
        from .settings_dialog import SettingsDialog
        self.settings_dialog = SettingsDialog(self.win)
        self.settings_dialog.accepted.connect(self._settings_saved)
        self.settings_dialog.open()

    def _settings_saved(self) -> None:
        self.prefs = prefs.Preferences.load(self.win.settings)

    def show_guide(self) -> None:
        from .guide import GuideDialog
        if self.guide is None:
            self.guide = GuideDialog(self.win)
        self.guide.show_guide()
        self.guide.show()
        self.guide.raise_()

    # -- end -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self.autosaver.finish()
        self.pictures.stop()
        self.store.wait()


def _moons_preset(panel) -> str | None:
    """Put the Training panel (a TrainingPanel, or None) on its two-moons preset; the preset's
    name, or None."""
    if panel is None:
        return None
    try:
        from ..training.presets import PRESETS
        name = next(n for n, c in PRESETS.items() if c.get("data", {}).get("kind") == "moons")
        panel.settings.apply_preset(name)
        return name
    except Exception:  # noqa: BLE001 - a preset is a convenience
        return None


def install(window) -> Comfort:
    window.comfort = Comfort(window)
    return window.comfort

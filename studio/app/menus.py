"""The main window's menu bar (File, Edit, View, Run, Help), including recent files."""
from __future__ import annotations

import os

from PySide6.QtWidgets import QMessageBox


class Menus:
    def __init__(self, win):
        self.win = win
        bar = win.menuBar()
        f = bar.addMenu("&File")
        for act in (win.new_action, win.open_action):
            f.addAction(act)
        self.recent = f.addMenu("Open &Recent")
        self.examples = f.addMenu("E&xamples")
        self.examples.aboutToShow.connect(self.refresh_examples)
        self.refresh_examples()
        f.addSeparator()
        for act in (win.save_action, win.save_as_action):
            f.addAction(act)
        f.addSeparator()
        f.addAction(win.export_png_action)
        f.addAction(win.export_npz_action)
        f.addSeparator()
        f.addAction(win.quit_action)

        e = bar.addMenu("&Edit")
        for act in (win.undo_action, win.redo_action):
            e.addAction(act)
        e.addSeparator()
        for act in (win.copy_action, win.paste_action, win.delete_action, win.select_all_action):
            e.addAction(act)

        v = bar.addMenu("&View")
        spaces = win.workspaces
        if spaces is not None:
            w = v.addMenu("&Workspace")
            for name in spaces.order:
                w.addAction(spaces.actions[name])
            w.addSeparator()
            w.addAction(spaces.next_action)
            w.addAction(spaces.prev_action)
            win.addAction(spaces.next_action)
            win.addAction(spaces.prev_action)
            v.addSeparator()
        for act in (win.fit_action, win.zoom_in_action, win.zoom_out_action):
            v.addAction(act)
        v.addSeparator()
        for dock in win.docks.values():
            v.addAction(dock.toggleViewAction())
        v.addAction(win.toolbar.toggleViewAction())
        v.addSeparator()
        v.addAction(win.reset_layout_action)

        r = bar.addMenu("&Run")
        r.addAction(win.run_action)
        r.addAction(win.cancel_action)

        extra = dict(win.extra_menu_actions)
        menus = {"&File": f, "&Edit": e, "&View": v, "&Run": r}
        for title in list(extra):
            if title not in menus and title != "&Help":
                menus[title] = bar.addMenu(title)
        h = bar.addMenu("&Help")
        menus["&Help"] = h
        for title, actions in extra.items():
            menus[title].addSeparator()
            for act in actions:
                menus[title].addAction(act)
        h.addAction("&About Diffusion Studio", self.about)
        self.refresh_recent()

    def refresh_recent(self) -> None:
        self.recent.clear()
        files = self.win.settings.recent_files()
        for path in files:
            act = self.recent.addAction(os.path.basename(path), lambda p=path: self._open(p))
            act.setToolTip(path)
            act.setEnabled(os.path.exists(path))
        if files:
            self.recent.addSeparator()
            self.recent.addAction("Clear list", self._clear)
        else:
            self.recent.addAction("(none)").setEnabled(False)

    def refresh_examples(self) -> None:
        """The example pipelines that ship with the app, titled (featured ones first), after the
        examples gallery (the start page) when it is installed."""
        self.examples.clear()
        gallery = self.win.examples_gallery_action
        if gallery is not None:
            self.examples.addAction(gallery)
            self.examples.addSeparator()
        try:
            from .comfort.examples import menu_entries
            entries = menu_entries()             # (title, path, tooltip)
        except Exception:  # noqa: BLE001 - no examples is not an error
            entries = []
        for title, path, tip in entries:
            act = self.examples.addAction(title, lambda p=path: self._open(p))
            act.setData(path)
            act.setToolTip(tip)
        self.examples.setToolTipsVisible(True)
        if not entries:
            self.examples.addAction("(none installed)").setEnabled(False)

    def _open(self, path: str) -> None:
        if self.win.maybe_save():
            self.win.open_path(path)

    def _clear(self) -> None:
        self.win.settings.clear_recent()
        self.refresh_recent()

    def about(self) -> None:
        from .. import __version__
        QMessageBox.about(self.win, "Diffusion Studio",
                          f"<b>Diffusion Studio</b> {__version__}<br>Build, run, inspect and "
                          "compare diffusion and flow generative models.")


def build_menus(win) -> Menus:
    win.menus = Menus(win)
    return win.menus

"""Full-page workspaces: a mode bar at the top of the main window, one page per workspace.

Each workspace (Pipeline, Comparison, Diagnostics, Inverse problems, Edit, Training, Gallery,
Queue…) is a page of the window's central stack, inside a scroll area so that a page never forces
the window to grow nor clips its controls: at 1280x800 a page too tall or too wide for the room
scrolls. The shared docks (models, nodes, inspector, log) are shown per workspace: each page
declares the docks it wants, and what the user shows or hides while on a page is remembered for
that page (and across sessions).

Adding a workspace is one line in an extension's ``install(window)``::

    window.add_workspace("edit", "Edit", EditPanel(window), docks=("browser",))

It returns a :class:`Page`, which answers ``show()``/``raise_()``/``widget()``/``isVisible()`` as a
dock did, so extensions written for the docked layout keep working.

A page may be given a *factory* (a function that builds and returns its widget) instead of the
widget: it is built the first time the page is shown or its widget is asked for, not while the
window starts (a workspace's plots and forms cost tenths of a second each). The window attribute
an extension provides (``window.compare``…, :class:`Provided`) can then be :meth:`Page.later`:
reading it builds the page.
"""
from __future__ import annotations

import json
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFrame, QLabel, QScrollArea, QStackedWidget, QTabBar, QToolBar,
                               QWidget)

from .elide import shrinkable_combos

#: where a workspace's tab goes (lower first); an unknown name goes before the Gallery
ORDER = {"pipeline": 0, "compare": 10, "diagnostics": 20, "inverse": 30, "edit": 35,
         "training": 40, "gallery": 60, "queue": 70}
DEFAULT_ORDER = 50
#: the shared docks of the pipeline page (the others show none unless they ask)
EDITOR_DOCKS = ("browser", "palette", "inspector", "log")
SETTINGS_KEY = "window/workspaces"


class Later:
    """A value computed when first read (see :class:`Provided`)."""

    def __init__(self, make: Callable[[], object]):
        self.make = make


class Provided:
    """A window attribute that an extension fills (``window.compare = page.later()``): reading it
    gives the object, building a lazy page first; unset it is None."""

    def __set_name__(self, owner, name: str) -> None:
        self.slot = f"_provided_{name}"

    def __get__(self, win, owner=None):
        if win is None:
            return self
        value = win.__dict__.get(self.slot)
        if isinstance(value, Later):
            value = value.make()
            win.__dict__[self.slot] = value
        return value

    def __set__(self, win, value) -> None:
        win.__dict__[self.slot] = value

    def pending(self, win) -> bool:
        """Whether the value is still to be built."""
        return isinstance(win.__dict__.get(self.slot), Later)


class Page:
    """A workspace page, as the window and the extensions see it."""

    def __init__(self, spaces: "Workspaces", name: str, title: str, widget, docks, tip: str):
        self.spaces, self.name, self.title = spaces, name, title
        self.default_docks = tuple(docks)
        self.docks = set(docks)
        self.tip = tip
        self.scroll = QScrollArea()
        self.scroll.setObjectName(f"workspace-{name}")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self._widget = None
        self._factory = None if isinstance(widget, QWidget) else widget
        self._building = False
        self.failed = ""                # why a lazy page could not be built
        if self._factory is None:
            self._set_widget(widget)

    @property
    def built(self) -> bool:
        return self._widget is not None

    def _set_widget(self, widget) -> None:
        self._widget = widget
        self.scroll.setWidget(widget)
        shrinkable_combos(widget, shrink=False)     # choices too long for their box: elided

    def later(self) -> Later:
        """This page's widget, built when first read (for a :class:`Provided` attribute); None
        if it failed to build."""
        return Later(lambda: None if self.failed else self.widget())

    # the dock-like interface of the docked layout
    def widget(self):
        if self._widget is None:
            if self._building:
                raise RuntimeError(f"workspace {self.name!r} asked for itself while being built")
            self._building = True
            try:
                widget = self._factory()
            except Exception as exc:  # noqa: BLE001 - a workspace must not take the app down
                traceback.print_exc()
                self.failed = f"{type(exc).__name__}: {exc}"
                self.spaces.win.log.error(f"workspace {self.name!r} failed to load: {exc}")
                widget = QLabel(f"The {self.title} workspace failed to load: {exc}\n"
                                "(the details are in the log and on the console)")
                widget.setWordWrap(True)
                widget.setAlignment(Qt.AlignCenter)
            finally:
                self._building = False
            self._set_widget(widget)
            self.spaces.built.emit(self.name)
        return self._widget

    def show(self) -> None:
        self.spaces.show(self.name)

    raise_ = show

    def isVisible(self) -> bool:      # noqa: N802 - Qt naming, as a dock's
        return self.spaces.current == self.name and self.scroll.isVisible()

    def isFloating(self) -> bool:     # noqa: N802
        return False

    def setFloating(self, _floating: bool) -> None:   # noqa: N802
        pass


class Workspaces(QObject):
    """The mode bar (a tab per workspace) and the stack of pages; the window's central widget."""

    changed = Signal(str)           # the name of the workspace now shown
    built = Signal(str)             # a lazy page's widget was just built

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.pages: dict[str, Page] = {}
        self.order: list[str] = []
        self.current = ""
        self.stack = QStackedWidget()
        self.stack.setObjectName("workspaces")
        self.bar = QTabBar()
        self.bar.setObjectName("modeBar")
        self.bar.setDocumentMode(True)
        self.bar.setDrawBase(False)
        self.bar.setExpanding(False)
        self.bar.setElideMode(Qt.ElideNone)
        self.bar.setUsesScrollButtons(True)
        self.bar.currentChanged.connect(self._tab_changed)
        self.toolbar = QToolBar("Workspaces", window)
        self.toolbar.setObjectName("workspaceBar")
        self.toolbar.setMovable(False)
        self.toolbar.addWidget(self.bar)
        self.next_action = QAction("&Next workspace", window)
        self.next_action.setShortcut(QKeySequence("Ctrl+PgDown"))
        self.next_action.triggered.connect(lambda: self._step(1))
        self.prev_action = QAction("&Previous workspace", window)
        self.prev_action.setShortcut(QKeySequence("Ctrl+PgUp"))
        self.prev_action.triggered.connect(lambda: self._step(-1))
        self.actions: dict[str, QAction] = {}

    # -- registration ----------------------------------------------------------------------------
    def add(self, name: str, title: str, widget, docks=(), tip: str = "") -> Page:
        """Register a workspace page (its widget, or a function that builds it when the page is
        first shown); its tab goes where :data:`ORDER` puts it."""
        if name in self.pages:
            raise ValueError(f"workspace {name!r} is already registered")
        page = Page(self, name, title, widget, docks, tip)
        rank = ORDER.get(name, DEFAULT_ORDER)
        at = sum(1 for n in self.order if ORDER.get(n, DEFAULT_ORDER) <= rank)
        self.pages[name] = page
        self.order.insert(at, name)
        self.stack.insertWidget(at, page.scroll)
        self.bar.blockSignals(True)
        self.bar.insertTab(at, title)
        self.bar.setTabToolTip(at, tip or title)
        self.bar.setCurrentIndex(self.order.index(self.current) if self.current else 0)
        self.bar.blockSignals(False)
        act = QAction(title, self.win)
        act.setToolTip(tip or title)
        act.triggered.connect(lambda _=False, n=name: self.show(n))
        self.actions[name] = act
        if not self.current:
            self.show(name)
        return page

    def __getitem__(self, name: str) -> Page:
        return self.pages[name]

    def __contains__(self, name: str) -> bool:
        return name in self.pages

    # -- switching ---------------------------------------------------------------------------------
    def show(self, name: str) -> None:
        if name not in self.pages:
            raise KeyError(f"no workspace {name!r} (known: {', '.join(self.order)})")
        self.pages[name].widget()           # a lazy page is built before it shows
        if name == self.current:
            self._apply_docks(self.pages[name])
            return
        self._remember_docks()
        self.current = name
        i = self.order.index(name)
        self.stack.setCurrentIndex(i)
        self.bar.blockSignals(True)
        self.bar.setCurrentIndex(i)
        self.bar.blockSignals(False)
        self._apply_docks(self.pages[name])
        self.changed.emit(name)

    def _tab_changed(self, i: int) -> None:
        if 0 <= i < len(self.order):
            self.show(self.order[i])

    def _step(self, delta: int) -> None:
        if self.order:
            i = self.order.index(self.current) if self.current else 0
            self.show(self.order[(i + delta) % len(self.order)])

    # -- the shared docks, per workspace -----------------------------------------------------------
    def _remember_docks(self) -> None:
        page = self.pages.get(self.current)
        if page is not None:
            page.docks = {n for n, d in self.win.docks.items() if d.toggleViewAction().isChecked()}

    def _apply_docks(self, page: Page) -> None:
        for n, dock in self.win.docks.items():
            dock.setVisible(n in page.docks)
        if {"browser", "palette"} <= page.docks and dict.__contains__(self.win.docks, "browser"):
            self.win.docks["browser"].raise_()

    def reset(self) -> None:
        for page in self.pages.values():
            page.docks = set(page.default_docks)
        if self.current:
            self._apply_docks(self.pages[self.current])

    # -- persistence -------------------------------------------------------------------------------
    def save(self, settings) -> None:
        self._remember_docks()
        state = {"current": self.current,
                 "docks": {n: sorted(p.docks) for n, p in self.pages.items()}}
        settings.set_value(SETTINGS_KEY, json.dumps(state))

    def restore(self, settings) -> None:
        raw = settings.value(SETTINGS_KEY)
        try:
            state = json.loads(raw) if isinstance(raw, str) and raw else {}
        except ValueError:
            state = {}
        docks = state.get("docks", {}) if isinstance(state, dict) else {}
        for name, names in docks.items() if isinstance(docks, dict) else ():
            if name in self.pages and isinstance(names, list):
                self.pages[name].docks = {n for n in names if n in self.win.docks}
        current = state.get("current") if isinstance(state, dict) else None
        if current not in self.pages:
            current = self.current or (self.order[0] if self.order else "")
        if current:
            self.current = ""          # apply the page's docks without recording the old ones
            self.show(current)


class DockMap(dict):
    """The window's dock panels by name. A workspace page's name gives its :class:`Page`, so code
    written when workspaces were docks (``window.docks["compare"].raise_()``) keeps working;
    iterating gives the docks alone."""

    def __init__(self, spaces: Workspaces):
        super().__init__()
        self._spaces = spaces

    def __missing__(self, name):
        if name in self._spaces:
            return self._spaces[name]
        raise KeyError(name)

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or name in self._spaces

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

"""Workspaces that plug into the main window without editing it.

Each module in this package defines ``install(window)``, called once while the main window is
built, after the standard panels and before the menus and the saved layout. It may:

- add dock panels with ``window.add_panel(name, title, widget, area, tabify_with=None)``;
- add menu entries with ``window.add_menu_action(menu_title, action)`` (``"&File"``, ``"&View"``,
  ``"&Run"``, ``"&Help"`` or a new title such as ``"&Tools"``);
- observe ``window.doc`` (the pipeline document), ``window.state`` (the run state), ``window.log``.
- add a full-page workspace with ``window.add_workspace(name, title, build, docks, tip)``, where
  ``build`` makes the page's widget when the page is first shown (so the window starts fast), and
  set the attribute it provides to ``page.later()`` (reading it builds the page);
- fill the attribute the window declares for what it provides (``window.compare``,
  ``window.training_panel``, ``window.job_queue``, ``window.comfort``…: see ``MainWindow.__init__``);
  other extensions test those for None (the extension may be absent) and call their public methods,
  never ``getattr(window, "name", None)`` nor the window's ``_private`` members.

Modules are installed in name order; one that fails to install is reported in the log and skipped,
so a broken workspace never stops the application from starting.
"""
from __future__ import annotations

import importlib
import pkgutil
import traceback


def install_all(window) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"{__name__}.{info.name}")
            mod.install(window)
        except Exception as exc:  # noqa: BLE001 - a workspace must not take the app down
            window.log.error(f"workspace {info.name!r} failed to load: {exc}")
            traceback.print_exc()

"""Screenshots of the whole main window at 1280x800, one per workspace, for the docs
(``docs/screenshots/<name>.png``: main-window, compare, diagnostics, inverse, training, gallery),
after small runs (a solver race, a comparison, an inpainting) so that the views have something to
show.

    QT_QPA_PLATFORM=offscreen python scripts/workspace_screenshots.py [OUT_DIR] [--light]

``--light`` also grabs every workspace in the light theme (``light-<workspace>.png``), switched
live in the same window, to check that the canvas, the plots and the log follow it.

Uses throw-away settings and data folders.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


#: workspace -> the docs' file name (README links these)
NAMES = {"pipeline": "main-window.png"}


def wait(app, signal, start, timeout: float = 180.0) -> None:
    """Start something and pump events until ``signal`` says it finished (status first, or a
    queued job with its status)."""
    from studio.app.shots import pump
    done = {}

    def got(*args):
        first = args[0]
        done.setdefault("status", getattr(first, "status", first))
    signal.connect(got)
    if not start():
        raise SystemExit(f"could not start {start}")
    end = time.time() + timeout
    while "status" not in done and time.time() < end:
        pump(app, 0.05)
    if done.get("status") != "finished":
        raise SystemExit(f"{start} did not finish: {done}")


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--light"]
    out = args[0] if args else os.path.join(ROOT, "docs", "screenshots")
    from PySide6.QtCore import QSettings

    from studio.app.main import make_app
    from studio.app.mainwindow import MainWindow
    from studio.app.shots import SIZE, grab_workspaces, pump

    app = make_app()
    tmp = tempfile.mkdtemp(prefix="studio-shots-")
    win = MainWindow(QSettings(os.path.join(tmp, "settings.ini"), QSettings.IniFormat))
    win.ask_to_save = win.show_dialogs = False
    win.resize(*SIZE)
    win.show()
    pump(app, 0.5)
    assert win.open_path(os.path.join(ROOT, "examples", "mixture_race.json"))
    win.toolbar.batch.setValue(2000)
    wait(app, win.runFinished, win.run)
    win.compare.setup.from_document()
    win.compare.setup.nfes.setText("4, 8, 16")
    win.compare.setup.batch.setValue(500)
    wait(app, win.compare.session.finished, win.compare.run)
    inv = win.inverse_panel
    win.workspaces.show("inverse")
    end = time.time() + 60
    while (inv.model.loading or inv.model.data is None) and time.time() < end:
        pump(app, 0.05)
    inv.model.set_solver_param("steps", 50)
    inv.sampler.batch.setValue(4)
    wait(app, inv.runFinished, inv.run)
    # the queue: one queued run done (in the Gallery), two waiting behind a pause
    wait(app, win.job_queue.jobFinished, win.queue_run)
    win.job_queue.set_paused(True)
    win.toolbar.seed.setValue(1)
    win.queue_run()
    win.toolbar.seed.setValue(2)
    win.queue_run()
    win.comfort.store.wait()
    pump(app, 0.5)
    paths = grab_workspaces(win, out, prefix="", settle=0.4)
    for name, doc_name in NAMES.items():
        if name in paths:
            os.replace(paths.pop(name), os.path.join(out, doc_name))
            paths[name] = os.path.join(out, doc_name)
    if "--light" in sys.argv[1:]:
        from studio.app.comfort.theme import apply_theme
        apply_theme("light")
        paths.update({f"light-{k}": v for k, v in
                      grab_workspaces(win, out, prefix="light-", settle=0.4).items()})
        apply_theme("dark")
    win.close()
    print("\n".join(paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

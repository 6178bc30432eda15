"""Screenshots of the comfort features for the docs (offscreen; run from the repository root):
``docs/screenshots/start-page.png`` (the start page over the window on a first start) and
``docs/screenshots/gallery.png`` (the Gallery after a few example runs).

    QT_QPA_PLATFORM=offscreen python scripts/comfort_screenshots.py [OUT_DIR]

Uses throw-away settings and data folders; the example runs take a minute on a busy CPU.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)          # this checkout's studio, not an installed one
SIZE = (1280, 800)   # the size of every docs screenshot (studio.app.shots.SIZE)


def pump(app, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def run(app, win, timeout: float = 300) -> None:
    done = {}

    def finished(status: str, message: str) -> None:
        done.setdefault("status", (status, message))
    win.runFinished.connect(finished)
    assert win.run()
    end = time.time() + timeout
    while "status" not in done and time.time() < end:
        app.processEvents()
        time.sleep(0.01)
    win.runFinished.disconnect(finished)
    if done.get("status", ("timeout",))[0] != "finished":
        print("\n".join(" ".join(e) for e in win.log.entries), file=sys.stderr)
        raise SystemExit(f"run did not finish: {done}")


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "screenshots")
    os.makedirs(out, exist_ok=True)
    from PySide6.QtCore import QSettings

    from studio.app.main import make_app
    from studio.app.mainwindow import MainWindow

    app = make_app()
    tmp = tempfile.mkdtemp(prefix="studio-shots-")
    win = MainWindow(QSettings(os.path.join(tmp, "settings.ini"), QSettings.IniFormat))
    win.resize(*SIZE)
    win.show()
    pump(app, 1.0)
    comfort = win.comfort
    if comfort.start_page is None or not comfort.start_page.isVisible():
        comfort.show_start_page()
    comfort.pictures.wait(300000)
    pump(app, 0.5)
    win.grab().save(os.path.join(out, "start-page.png"))
    comfort.start_page.dismiss()

    win.ask_to_save = False
    for name, batch in (("mixture_race.json", 1000), ("digits_cfg.json", None),
                        ("inpainting.json", None), ("moons.json", 1000)):
        assert win.open_path(os.path.join(ROOT, "examples", name))
        if batch:
            win.toolbar.batch.setValue(batch)
        run(app, win)
    comfort.store.wait()
    pump(app, 0.5)
    win.workspaces.show("gallery")
    comfort.gallery.list.setCurrentRow(0)
    pump(app, 0.5)
    win.grab().save(os.path.join(out, "gallery.png"))
    win.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

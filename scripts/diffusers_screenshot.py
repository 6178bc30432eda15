"""The README's screenshot of a text-to-image run: ``docs/screenshots/diffusers.png``.

A *tiny random-weight* Stable Diffusion folder is built in code (no real weights are needed or
downloaded), added to the model browser with "Add folder…", opened (which sets the process node),
given a prompt and a cfg guidance node, and run; the window is grabbed at 1280x800.

    QT_QPA_PLATFORM=offscreen python scripts/diffusers_screenshot.py [OUT_PNG]
"""
from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from comfort_screenshots import pump, run  # noqa: E402


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "screenshots",
                                                             "diffusers.png")
    from PySide6.QtCore import QSettings

    from studio.app.main import make_app
    from studio.app.mainwindow import MainWindow
    from tests.core import hf_fixtures as F

    tmp = tempfile.mkdtemp(prefix="studio-diffusers-shot-")
    models = os.path.join(tmp, "models")
    os.makedirs(models)
    path = F.make_sd(models)
    os.rename(path, os.path.join(models, "tiny-sd-random"))
    app = make_app()
    win = MainWindow(QSettings(os.path.join(tmp, "settings.ini"), QSettings.IniFormat))
    win.ask_to_save = False
    win.show_dialogs = False
    win.resize(1280, 800)
    win.show()
    pump(app, 1.0)
    comfort = getattr(win, "comfort", None)
    if comfort is not None and getattr(comfort, "start_page", None) is not None:
        comfort.start_page.dismiss()
    browser = win.browser
    browser.add_folder(models)
    browser.model.wait(60000)
    pump(app, 1.0)
    browser.select("tiny-sd-random")
    entry = browser.current()
    browser.useRequested.emit(entry)
    pump(app, 0.5)
    doc = win.doc
    (net,) = doc.of_type("network")
    doc.set_param(net, "prompt", "a red fox in the snow")
    doc.set_param(net, "negative_prompt", "blurry")
    doc.set_param(net, "height", 64)
    doc.set_param(net, "width", 64)
    solvers = doc.of_type("solver")
    for s in solvers:
        doc.set_param(s, "steps", 12)
        doc.unlink(net, s)
    x, y = doc.nodes[net].pos
    g = doc.add_node("guidance", "cfg", {"scale": 5.0}, (x + 230.0, y))
    doc.link(net, g)
    for s in solvers:
        doc.move_nodes({s: (doc.nodes[s].pos[0] + 230.0, doc.nodes[s].pos[1])})
        doc.link(g, s)
    doc.set_run("batch", 9)
    win.view.fit()
    run(app, win)
    pump(app, 1.0)
    browser.select("tiny-sd-random")
    win.scene.select([net])
    pump(app, 1.0)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    win.grab().save(out)
    print(out)
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Start the application: ``studio`` / ``studio gui [PIPELINE] [--run] [--screenshot PNG] [--quit]``.

The automation options are a contract used by the docs and the tests: open the window (with the
pipeline), optionally run it to the end, save a PNG of the whole window, quit. They work with
``QT_QPA_PLATFORM=offscreen`` and under Xvfb.
"""
from __future__ import annotations

import sys

ORG, APP = "DiffusionStudio", "Diffusion Studio"


def make_app():
    """The QApplication (created once), with the app's names and look."""
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName(APP)
    from .style import apply_style
    apply_style(app)
    try:
        from .resources import app_icon
        icon = app_icon()
        if not icon.isNull():
            app.setWindowIcon(icon)
    except Exception:  # noqa: BLE001 - an icon is cosmetic
        pass
    return app


def tune_gc() -> None:
    """Keep garbage-collection pauses out of the event loop: move the objects that live for the
    whole session (torch, Qt and the window, hundreds of thousands) out of the collector's reach
    and collect young objects less often. A full collection of them took 100 ms to 1 s on a busy
    machine, stalling the live views; afterwards the worst pause is a few tens of ms."""
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(10000, 50, 100)


def run_app(args, settings=None) -> int:
    """Open the main window; ``settings`` (a QSettings) replaces the user's, e.g. in tests."""
    app = make_app()
    from PySide6.QtCore import QTimer

    from .mainwindow import MainWindow

    from . import gcguard
    gcguard.install(app)
    win = MainWindow(settings)
    automated = bool(args.quit or args.screenshot)
    if automated:
        win.ask_to_save = False
        win.show_dialogs = not args.quit
    if args.pipeline and not win.open_path(args.pipeline):
        if args.quit:
            print(f"studio: error: {win.log.entries[-1][2]}", file=sys.stderr)
            win.close()
            return 2
    if args.screenshot:
        win.resize(1440, 920)       # the same picture whatever layout was saved last
    win.show()
    win.view.fit()
    QTimer.singleShot(1000, tune_gc)
    result = {"code": 0}

    def finish() -> None:
        if args.screenshot:
            win.browser.model.wait(5000)       # the model pictures
            app.processEvents()
            win.panel.show_frame(-1)
            app.processEvents()
            if win.grab().save(args.screenshot, "PNG"):
                print(f"studio: screenshot saved to {args.screenshot}", file=sys.stderr)
            else:
                print(f"studio: error: cannot write {args.screenshot}", file=sys.stderr)
                result["code"] = 1
        if args.quit:
            win.close()
            app.quit()

    def on_run_finished(status: str, message: str) -> None:
        if status != "finished":
            print(f"studio: run {status}: {message}", file=sys.stderr)
            result["code"] = 1
        QTimer.singleShot(100, finish)

    if args.run:
        win.runFinished.connect(on_run_finished)
        QTimer.singleShot(0, lambda: win.run() or on_run_finished("failed", "the run did not start"))
    elif args.screenshot or args.quit:
        # give the density preview a moment so the screenshot shows the data
        QTimer.singleShot(600, finish)
    app.exec()
    return result["code"]

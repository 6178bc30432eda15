"""The Queue workspace: Shift+Run (or Run > Queue run, Ctrl+Shift+R) queues the pipeline, Run >
Queue training the Training workspace's settings; queued jobs go one after the other and survive
a restart; runs land in the Gallery, trained models in the library."""
from __future__ import annotations

import os

from PySide6.QtGui import QAction, QKeySequence

from ...core.errors import StudioError


def install(window) -> None:
    from ..comfort.paths import sub_dir
    from ..jobqueue import JobQueue
    from ..queue_panel import QueuePanel

    queue = JobQueue(os.path.join(str(sub_dir(window.settings.q, "queue")), "queue.json"), window)
    queue.busy_elsewhere = lambda: window.controller.running
    window.job_queue = queue
    panel = QueuePanel(queue)
    window.queue_panel = panel
    page = window.add_workspace("queue", "Queue", panel,
                                tip="Queued runs: reorder, pause, cancel; they survive a restart")
    queue.message.connect(window.log.add)
    window.controller.finished.connect(lambda *_: queue.kick())   # after a direct run

    def to_gallery(job, state) -> None:
        comfort = window.comfort
        if (job.status == "finished" and comfort is not None and state is not None
                and state.info is not None):
            comfort.store.capture(job.pipeline, job.base_dir, state.info, state.results(),
                                  source=f"queue: {job.title}")
    queue.jobFinished.connect(to_gallery)

    def open_pipeline(data: dict, base_dir) -> None:
        if window.maybe_save():
            window.doc.load_dict(data, source="queued job", path=None)
            window.view.fit()
            window.workspaces.show("pipeline")
    panel.openRequested.connect(open_pipeline)

    act = QAction("&Queue run", window)
    act.setShortcut(QKeySequence("Ctrl+Shift+R"))
    act.setToolTip("Queue the pipeline instead of running it now (Shift+Run)")
    act.triggered.connect(window.queue_run)
    window.queue_action = act
    window.add_menu_action("&Run", act)

    def queued(what: str, make) -> bool:
        """Queue the job ``make()`` builds; a bad setting is reported, nothing is queued."""
        try:
            job = make()
        except StudioError as exc:
            window.report(f"Cannot queue the {what}", str(exc))
            return False
        window.log.info(f"queued “{job.title}” ({len(queue.pending())} waiting)")
        return True

    def queue_training() -> bool:
        panel = window.training_panel
        if panel is None:
            return False

        def make():
            cfg = panel.settings.config()
            return queue.add_training(cfg.to_dict(), f"Training {cfg.name or 'a model'}",
                                      panel.settings.device_name())
        return queued("training", make)

    def queue_comparison() -> bool:
        ws = window.compare
        if ws is None:
            return False
        return queued("comparison", lambda: queue.add_comparison(
            ws.setup.build_spec().to_dict(), f"Comparison of {window.doc.title}"))

    def open_comparison(path: str) -> None:
        ws = window.compare
        if ws is not None and ws.open_path(path):
            window.workspaces.show("compare")
    panel.openComparison.connect(open_comparison)

    comp = QAction("Queue &comparison (Comparison settings)", window)
    comp.setToolTip("Queue a comparison with the Comparison workspace's settings; the result is "
                    "saved and opens from the Queue")
    comp.triggered.connect(queue_comparison)
    window.queue_comparison = queue_comparison
    window.add_menu_action("&Run", comp)

    train = QAction("Queue &training (Training settings)", window)
    train.setToolTip("Queue a training with the Training workspace's settings; its model lands in "
                     "your library")
    train.triggered.connect(queue_training)
    window.queue_training = queue_training
    window.add_menu_action("&Run", train)
    if queue.pending():
        window.log.info(f"queue: {len(queue.pending())} queued run(s) restored, paused: press "
                        "Resume queue in the Queue workspace to run them")
    window.closing.connect(lambda: queue.shutdown())
    page.queue = queue

"""Crash safety: the editor's pipeline is autosaved, and after an abnormal exit the next start
offers to restore it.

Every window is a session with an id. While it runs it holds a lock file (``<id>.lock``, a
:class:`QLockFile`: it records the process and is recognised as stale once that process is gone)
in ``<data>/autosave``; a document with unsaved changes is written to ``<id>.json`` (atomically,
debounced: at most one write per :data:`DELAY_MS` of editing). A normal close removes both. At the
next start, an autosave whose lock is stale (or gone) is what a crashed session left behind.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from ...core.errors import StudioError
from ...core.pipeline import write_atomic

FORMAT = "studio.autosave/1"
DELAY_MS = 1500
#: sessions alive in this process (their locks are ours even though our process is alive)
LIVE: set[str] = set()


@dataclass
class Orphan:
    """An autosave left behind by a session that did not close."""

    sid: str
    path: Path                 # the autosave JSON
    saved: float
    title: str
    doc_path: str | None
    pipeline: dict

    def discard(self) -> None:
        for p in (self.path, self.path.with_suffix(".lock")):
            try:
                p.unlink()
            except OSError:
                pass


class AutoSaver(QObject):
    """The autosave of one window's document."""

    def __init__(self, window, folder: Path, delay_ms: int = DELAY_MS):
        super().__init__(window)
        self.win, self.doc, self.folder = window, window.doc, Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sid = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.save_path = self.folder / f"{self.sid}.json"
        self.lock = QLockFile(str(self.folder / f"{self.sid}.lock"))
        self.lock.setStaleLockTime(0)          # stale only when its process is gone
        self.locked = self.lock.tryLock(0)
        LIVE.add(self.sid)
        self.writes = 0
        self._warned = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)
        self.doc.changed.connect(self._timer.start)
        self.doc.undo_stack.cleanChanged.connect(self._clean_changed)

    def _clean_changed(self, clean: bool) -> None:
        if clean:                  # saved (or undone to the saved state): nothing to lose
            self._timer.stop()
            self._remove()

    def flush(self) -> None:
        """Write the autosave now (or remove it when there is nothing unsaved)."""
        self._timer.stop()
        if self.doc.undo_stack.isClean():
            self._remove()
            return
        try:
            data = {"format": FORMAT, "saved": time.time(), "title": self.doc.title,
                    "path": self.doc.path, "pipeline": self.doc.to_dict()}
            write_atomic(str(self.save_path), json.dumps(data, indent=1) + "\n")
            self.writes += 1
        except (OSError, TypeError, ValueError) as exc:
            if not self._warned:           # once: a read-only folder would say it at every edit
                self._warned = True
                self.win.log.warning(f"autosave failed (the pipeline is not protected against a "
                                     f"crash): {exc}")

    def _remove(self) -> None:
        try:
            self.save_path.unlink()
        except OSError:
            pass

    def finish(self) -> None:
        """The window closed normally: remove the autosave and the lock."""
        self._timer.stop()
        self._remove()
        if self.locked:
            self.lock.unlock()
            self.locked = False
        LIVE.discard(self.sid)


def orphans(folder: Path) -> list[Orphan]:
    """Autosaves of sessions that ended without closing, newest first."""
    out = []
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for path in folder.glob("*.json"):
        sid = path.stem
        if sid in LIVE:
            continue
        lock_path = path.with_suffix(".lock")
        if lock_path.exists():
            probe = QLockFile(str(lock_path))
            probe.setStaleLockTime(0)
            if not probe.tryLock(0):       # its process is still running
                continue
            probe.unlock()                 # stale: removed
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or not isinstance(data.get("pipeline"), dict):
                raise ValueError("not an autosave")
        except (OSError, ValueError):
            continue
        out.append(Orphan(sid, path, float(data.get("saved", path.stat().st_mtime)),
                          str(data.get("title") or "untitled.json"), data.get("path"),
                          data["pipeline"]))
    return sorted(out, key=lambda o: o.saved, reverse=True)


def ask_restore(window, orphan: Orphan) -> bool:
    """Ask whether to restore (tests patch this)."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(orphan.saved))
    ans = QMessageBox.question(
        window, "Restore the last pipeline?",
        f"Diffusion Studio did not close normally last time.\n\nRestore the pipeline you were "
        f"editing ({orphan.title}, autosaved {when})?",
        QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
    return ans == QMessageBox.Yes


def restore(window, orphan: Orphan) -> bool:
    """Put an orphaned autosave on the canvas as an unsaved document."""
    path = orphan.doc_path if orphan.doc_path and os.path.isfile(orphan.doc_path) else None
    try:
        window.doc.load_dict(orphan.pipeline, source=f"autosave of {orphan.title}", path=path)
    except StudioError as exc:
        window.report("Cannot restore the autosave", str(exc))
        return False
    window.doc.undo_stack.resetClean()        # unsaved: the title shows it, closing asks
    window.view.fit()
    window.log.ok(f"restored the autosaved pipeline ({orphan.title})")
    return True


def offer_restore(window, folder: Path) -> bool:
    """At start: offer the newest orphaned autosave; True if one was restored. A declined one is
    deleted; older ones wait for the next start."""
    found = orphans(folder)
    if not found:
        return False
    newest = found[0]
    if ask_restore(window, newest):
        ok = restore(window, newest)
        newest.discard()
        return ok
    newest.discard()
    window.log.info(f"discarded the autosave of {newest.title}")
    return False

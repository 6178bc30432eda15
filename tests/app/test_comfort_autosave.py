"""Crash safety: the edited pipeline is autosaved (debounced, atomic, in the app data folder);
after an abnormal exit (its lock left behind by a dead process) the next start offers to restore
it; a normal close leaves nothing behind."""
from __future__ import annotations

import json
import subprocess

from studio.app.comfort import autosave
from studio.app.comfort.paths import sub_dir


def leave_stale_lock(lock_path) -> None:
    """What a crash leaves: a lock file (Qt's own format) naming a process that is gone."""
    from PySide6.QtCore import QLockFile
    gone = subprocess.Popen(["true"])
    gone.wait()
    probe_path = str(lock_path) + ".probe"
    probe = QLockFile(probe_path)
    assert probe.tryLock(0)
    with open(probe_path, "rb") as fh:
        contents = fh.read().split(b"\n")
    probe.unlock()
    contents[0] = str(gone.pid).encode()        # the first line is the process id
    lock_path.write_bytes(b"\n".join(contents))
    probe = QLockFile(str(lock_path))
    probe.setStaleLockTime(0)
    assert probe.getLockInfo()[0] == gone.pid          # (pid, host, app)


def crashed_session(settings, pipeline: dict, sid: str = "4242-deadbeef"):
    folder = sub_dir(settings, "autosave")
    leave_stale_lock(folder / f"{sid}.lock")
    (folder / f"{sid}.json").write_text(json.dumps(
        {"format": autosave.FORMAT, "saved": 1.7e9, "title": "untitled.json", "path": None,
         "pipeline": pipeline}))
    return folder


def edited_pipeline() -> dict:
    from studio.app.defaults import default_pipeline
    data = default_pipeline()
    data["nodes"]["dpm-solver++-2m"]["params"]["steps"] = 7
    data["run"]["seed"] = 99
    data["ui"]["positions"]["network"] = [300.0, 40.0]
    return data


def start(qtbot, settings):
    from studio.app.mainwindow import MainWindow
    w = MainWindow(settings)       # interactive: ask_to_save and show_dialogs stay on
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_restore_after_a_crash(qtbot, settings, monkeypatch):
    saved = edited_pipeline()
    folder = crashed_session(settings, saved)
    asked = []
    monkeypatch.setattr(autosave, "ask_restore", lambda w, o: asked.append(o) or True)
    w = start(qtbot, settings)
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert w.doc.to_dict() == saved
    assert not w.doc.undo_stack.isClean() and "•" in w.windowTitle()
    assert w.comfort.start_page is None                 # no start page over a restored pipeline
    assert not (folder / "4242-deadbeef.json").exists()
    assert not (folder / "4242-deadbeef.lock").exists()
    # the restored pipeline is this session's autosave now
    assert json.loads(w.comfort.autosaver.save_path.read_text())["pipeline"] == saved
    w.ask_to_save = False
    w.close()
    assert list(folder.iterdir()) == []


def test_declined_restore_is_discarded(qtbot, settings, monkeypatch):
    folder = crashed_session(settings, edited_pipeline())
    asked = []
    monkeypatch.setattr(autosave, "ask_restore", lambda w, o: asked.append(o) or False)
    settings.setValue("startpage/seen", True)
    w = start(qtbot, settings)
    qtbot.waitUntil(lambda: bool(asked), timeout=10000)
    assert w.doc.undo_stack.isClean() and w.doc.run.seed == 0
    assert not (folder / "4242-deadbeef.json").exists()
    w.ask_to_save = False
    w.close()


def test_autosave_follows_edits_and_a_live_session_is_left_alone(win, qtbot, monkeypatch, tmp_path):
    saver = win.comfort.autosaver
    assert saver.locked and (saver.folder / f"{saver.sid}.lock").exists()
    assert not saver.save_path.exists()                 # nothing unsaved yet
    win.doc.set_param("dpm-solver++-2m", "steps", 9)
    qtbot.waitUntil(saver.save_path.exists, timeout=10000)      # debounced write
    data = json.loads(saver.save_path.read_text())
    assert data["format"] == autosave.FORMAT and data["pipeline"] == win.doc.to_dict()
    # another window of a running app: its autosave is not an orphan
    monkeypatch.setattr(autosave, "LIVE", set())
    assert autosave.orphans(saver.folder) == []          # its lock is held by a live process
    monkeypatch.undo()
    # saving the file makes the autosave pointless
    assert win.save_to(str(tmp_path / "p.json"))
    assert not saver.save_path.exists()
    win.doc.set_param("dpm-solver++-2m", "steps", 11)
    saver.flush()
    assert saver.save_path.exists()
    folder = saver.folder
    win.close()                                          # a normal close
    assert list(folder.iterdir()) == []

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite's tensors are small: one thread is faster than two and immune to a busy machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Crash reports the tests provoke go to a private folder, not the user's cache.
if "STUDIO_CRASH_DIR" not in os.environ:
    import tempfile
    os.environ["STUDIO_CRASH_DIR"] = tempfile.mkdtemp(prefix="studio-test-crashes-")
if "STUDIO_CACHE_DIR" not in os.environ:      # the CLI's listing cache, likewise private
    import tempfile
    os.environ["STUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="studio-test-cache-")

import torch  # noqa: E402

torch.set_num_threads(1)

_EXIT = {"status": 0}


def pytest_sessionfinish(session, exitstatus):
    _EXIT["status"] = int(exitstatus)


def pytest_unconfigure(config):
    """After the summary is printed: if Qt was loaded, let its thread pool finish, then leave
    without the interpreter's teardown, in which PySide6 6.12 can crash (exit 139) after every test
    has passed. The exit status is pytest's own."""
    import sys
    if "PySide6" not in sys.modules:
        return
    from PySide6.QtCore import QThreadPool
    QThreadPool.globalInstance().waitForDone(10000)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT["status"])

"""`studio --help` (and every command's argument parsing) imports neither torch nor numpy: the
engine is imported once a command runs. Timings are in benchmarks/ui_latency.py."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = """
import sys
from studio.cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
import studio.core.errors                  # a light engine module stays light
print(sorted(m for m in ("torch", "numpy", "PySide6") if m in sys.modules))
"""


def test_help_imports_no_torch():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_engine_names_still_import_from_the_package():
    import studio.core as core
    assert core.Pipeline.__name__ == "Pipeline" and core.SOLVERS.kind
    assert "CancelToken" in dir(core)

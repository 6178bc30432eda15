"""Commands that need no tensor stay light: what they import, not how long they take (timings are
in benchmarks/ui_latency.py)."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    return set(out.stdout.split())


def test_help_imports_neither_torch_nor_numpy():
    mods = _modules_after("import contextlib, io\nfrom studio.cli.main import main\n"
                          "with contextlib.redirect_stdout(io.StringIO()):\n"
                          "    try:\n        main(['--help'])\n    except SystemExit:\n"
                          "        pass")
    assert "torch" not in mods and "numpy" not in mods


def test_listing_the_model_library_does_not_import_torch_dynamo(tmp_path):
    # checking a file's tensors builds its architecture on the meta device, without the weight
    # initialisations that would import torch._dynamo (seconds)
    mods = _modules_after("from studio.core.library import list_models\n"
                          "entries = list_models()\n"
                          "assert entries and not [e.error for e in entries if e.error]")
    assert "torch" in mods and "torch._dynamo" not in mods

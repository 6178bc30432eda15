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


def test_registry_tables_come_from_a_cache_keyed_on_their_sources(tmp_path, monkeypatch):
    import json

    from studio.cli.listing_cache import cached_tables, source_key
    from studio.cli.tables import all_tables
    env = {"STUDIO_CACHE_DIR": str(tmp_path / "cache"), "STUDIO_PLUGIN_DIR": str(tmp_path / "pl")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    live = json.loads(json.dumps(all_tables(), default=str))
    assert cached_tables(all_tables) == live                 # computed, and stored
    # another process lists the solvers from the cache, without importing torch
    mods = _modules_after(
        f"import os\nos.environ.update({env!r})\nimport contextlib, io\n"
        "from studio.cli.main import main\nbuf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n    main(['solvers', '--json'])\n"
        f"open({str(tmp_path / 'out.json')!r}, 'w').write(buf.getvalue())")
    assert "torch" not in mods
    assert json.loads((tmp_path / "out.json").read_text()) == live["solvers"]

    # any change of a source gives another key: a stale table is never shown
    (tmp_path / "pl").mkdir()
    key = source_key()
    (tmp_path / "pl" / "mine.py").write_text("# a plugin\n")
    assert source_key() != key
    monkeypatch.setenv("STUDIO_NO_PLUGINS", "1")
    assert source_key() != key


def test_model_cards_come_from_a_cache_keyed_on_each_file(tmp_path, monkeypatch):
    import json
    import shutil

    from studio.core.library import bundled_dir, list_models, model_cards
    env = {"STUDIO_CACHE_DIR": str(tmp_path / "cache"), "STUDIO_MODELS_DIR": str(tmp_path / "lib")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "lib").mkdir()
    mine = tmp_path / "lib" / "mine.safetensors"
    shutil.copy(bundled_dir() / "moons.safetensors", mine)
    live = json.loads(json.dumps([e.card() for e in list_models()], default=str))
    assert model_cards() == live                           # checked, and stored
    assert [c["path"] for c in live].count(str(mine)) == 1 and "error" not in live[-1]

    # another process lists the library from the cache, without importing torch
    out = tmp_path / "out.json"
    mods = _modules_after(
        f"import os\nos.environ.update({env!r})\nimport contextlib, io\n"
        "from studio.cli.main import main\nbuf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n    main(['models', 'list', '--json'])\n"
        f"open({str(out)!r}, 'w').write(buf.getvalue())")
    assert "torch" not in mods
    assert json.loads(out.read_text()) == live

    # a damaged cache file costs a re-check, never a wrong card or a traceback
    cache = next((tmp_path / "cache").glob("models-*.json"))
    data = json.loads(cache.read_text())
    for i, card in enumerate(data["cards"].values()):
        if i == 0:
            card["data"] = "broken"
        else:
            card.pop("parameters", None)
    cache.write_text(json.dumps(data))
    assert model_cards() == live
    cache.write_text("{not json")
    assert model_cards() == live

    # a file written since is checked again: its card is never stale
    data = mine.read_bytes()
    mine.write_bytes(data[:len(data) // 2])
    cards = model_cards()
    assert "truncated" in cards[-1]["error"] or "corrupted" in cards[-1]["error"]
    assert [e.error for e in list_models() if e.path == str(mine)] == [cards[-1]["error"]]
    mine.write_bytes(data)
    assert "error" not in model_cards()[-1]

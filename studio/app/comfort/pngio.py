"""PNG images that carry their pipeline, in the app: restore a pipeline from such a PNG (drop it on
the window, open it from the gallery or the recent files, ``studio gui image.png``), and make the
pipeline of a gallery image portable.

The pipeline is embedded as the document's own JSON (``studio.core.pngmeta``), so restoring gives
the same document back. Data files that the pipeline names relative to its folder (``.npy``
arrays, model files) are named by absolute path in the image, so it runs wherever it is moved to
on this machine (``studio run image.png`` included).
"""
from __future__ import annotations

import copy
import os
import shutil

from ...core.errors import StudioError
from ...core.pngmeta import read_pipeline, read_text

#: file parameters worth resolving (anything else is left as written)
FILE_SUFFIXES = (".npy", ".npz", ".safetensors", ".json", ".png", ".pt")
#: the gallery's record of a run (JSON): seed, branch, solver, NFE, time...
META_KEY = "studio.gallery"


def _absolute(value, base_dir: str):
    if isinstance(value, dict):
        return {k: _absolute(v, base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute(v, base_dir) for v in value]
    if (isinstance(value, str) and value.lower().endswith(FILE_SUFFIXES) and ":" not in value[:2]
            and not value.startswith("assets:") and not os.path.isabs(os.path.expanduser(value))):
        candidate = os.path.join(base_dir, value)
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return value


def relocate(value, old_dir: str, new_dir: str, copied: list[str]):
    """``value`` (node parameters) for a pipeline moving from ``old_dir`` to ``new_dir``: a data
    file it names relative to the old folder stays found. Files in the model library or the
    bundled folders are named by absolute path; any other file is copied beside the new pipeline
    (a different file of the same name is never overwritten: the copy gets a numbered name), so
    the saved pipeline reads nothing outside its folder. ``copied`` collects the new files."""
    if isinstance(value, dict):
        return {k: relocate(v, old_dir, new_dir, copied) for k, v in value.items()}
    if isinstance(value, list):
        return [relocate(v, old_dir, new_dir, copied) for v in value]
    src = _absolute(value, old_dir)
    if src is value or not isinstance(src, str):
        return value
    from ...core.untrusted import is_inside, trusted_roots
    if any(is_inside(src, r) for r in trusted_roots(None)):
        return src
    stem, ext = os.path.splitext(os.path.basename(src))
    for i in range(1000):
        name = f"{stem}{ext}" if i == 0 else f"{stem}-{i}{ext}"
        dest = os.path.join(new_dir, name)
        if not os.path.exists(dest):
            shutil.copyfile(src, dest)
            copied.append(dest)
            return name
        if _same_file_bytes(src, dest):
            return name
    return src


def _same_file_bytes(a: str, b: str) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def portable(pipeline: dict, base_dir: str | None) -> dict:
    """``pipeline`` with its relative data-file paths made absolute (against ``base_dir``)."""
    out = copy.deepcopy(pipeline)
    if not base_dir:
        return out
    for node in (out.get("nodes") or {}).values():
        if isinstance(node, dict) and isinstance(node.get("params"), dict):
            node["params"] = _absolute(node["params"], base_dir)
    return out


def ask_outside(window, path: str, refs: list[tuple[str, str]]) -> bool:
    """Ask whether the pipeline of ``path`` may read the files ``refs`` (where, file) that lie
    outside its folder; the question names them. Without dialogs (tests, headless): no."""
    names = "\n".join(f"{f}  ({w})" for w, f in refs[:6]) + ("\n..." if len(refs) > 6 else "")
    if window.show_dialogs:
        from PySide6.QtWidgets import QMessageBox
        ans = QMessageBox.question(window, "Read files outside the picture's folder?",
                                   f"The pipeline in {os.path.basename(path)} reads these files "
                                   f"outside its folder:\n{names}\n\nRead them?")
        if ans == QMessageBox.Yes:
            from ...core.untrusted import approve
            base = os.path.dirname(os.path.abspath(path))
            approve(os.path.join(base, os.path.expanduser(f)) for _, f in refs)
            return True
    return False


def _confirm_outside(window, path: str, data: dict, trusted: bool) -> bool:
    """A picture is untrusted input: files it names outside its folder, the model library and
    assets: are read only after the user confirms (the question names them)."""
    from ...core.untrusted import outside_references
    refs = [] if trusted else outside_references(data, os.path.dirname(os.path.abspath(path)))
    if not refs or ask_outside(window, path, refs):
        return True
    window.report("Cannot open pipeline", f"{path}: its pipeline reads files outside its folder "
                  f"and this was not confirmed: {refs[0][1]} ({refs[0][0]})")
    return False


def open_png(window, path: str, trusted: bool = False) -> bool:
    """Replace the window's pipeline with the one embedded in ``path`` (reports problems, never
    raises). The document is untitled: saving asks where. ``trusted``: a picture of this app's
    own gallery (no question about the files it names)."""
    try:
        data = read_pipeline(path)
        if not _confirm_outside(window, path, data, trusted):
            return False
        window.doc.load_dict(data, source=path, path=None)
    except StudioError as exc:
        window.report("Cannot open pipeline", str(exc))
        return False
    window.settings.add_recent(path)
    window.menus.refresh_recent()
    window.view.fit()
    seed = (data.get("run") or {}).get("seed")
    window.log.ok(f"restored the pipeline of {os.path.basename(path)}"
                  + (f" (seed {seed})" if seed is not None else ""))
    return True


def read_meta(path_or_bytes) -> dict:
    """The gallery record of a PNG ({} if it has none)."""
    from ...core.untrusted import loads_json
    try:
        text = read_text(path_or_bytes, META_KEY)
        meta = loads_json(text, "gallery record") if text else {}
    except (StudioError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}

"""The examples gallery: the example pipelines that ship with the app, with titles, a line of text
and a picture of what they make (File > Examples and the start page).

Pictures come from a real headless run of the example (its first branch, a small batch) in a
background thread, cached in the app data folder (``<data>/thumbs``, keyed by the file's content).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ...core.library import bundled_dir
from ..jobs import Loader
from ..resources import example_files

#: (file stem, title, text) of the examples the start page shows, in order
FEATURED = [
    ("mixture_race", "Solver race on a mixture",
     "Euler, Heun and DPM-Solver++(2M) at 10 network evaluations each, from the same noise, on an "
     "asymmetric six-mode Gaussian mixture: who lands on the thin modes?"),
    ("moons", "Train moons in a minute",
     "Sample the bundled two-moons model: a small MLP that learnt them in two minutes on a CPU."),
    ("digits_cfg", "Digits with guidance",
     "The bundled class-conditional U-Net on 8x8 handwritten digits with classifier-free guidance: "
     "two rows of 0 to 9."),
    ("inpainting", "Inpainting",
     "Only the top half of an unseen digit is known. RePaint-style replacement and DDNM complete it "
     "with the exact denoiser of the digits data set, side by side."),
]
#: the moons card when the Training workspace is there: it opens it on the moons preset
TRAIN_MOONS_TEXT = ("Opens the Training panel on the two-moons preset: press Train and watch a "
                    "small MLP learn them in about a minute on a CPU.")
#: what a featured example needs besides its file (a bundled model)
NEEDS = {"moons": "moons.safetensors", "digits_cfg": "digits.safetensors"}
POINTS, IMAGES = 1000, 20
#: pixels of a card picture (drawn at twice the card's size, shown smoothly scaled)
PICTURE = 352


@dataclass
class Example:
    key: str
    title: str
    text: str
    path: Path | None
    missing: str = ""            # why it cannot open ("" = it can)

    @property
    def available(self) -> bool:
        return self.path is not None and not self.missing


def _pretty(stem: str) -> str:
    return stem.replace("_", " ").replace("-", " ").capitalize()


def featured(training: bool = False) -> list[Example]:
    """The start page's examples; ``training``: the Training workspace is installed (the moons
    card then opens it instead of the bundled model)."""
    files = {p.stem: p for p in example_files()}
    out = []
    for key, title, text in FEATURED:
        path = files.get(key)
        missing = "" if path is not None else f"{key}.json is not installed"
        need = NEEDS.get(key)
        if not missing and need and not (bundled_dir() / need).is_file():
            missing = f"the bundled model {need} is not installed"
        if key == "moons" and training:
            text, missing = TRAIN_MOONS_TEXT, ("" if path is not None else missing)
        out.append(Example(key, title, text, path, missing))
    return out


def others() -> list[Example]:
    keys = {k for k, _, _ in FEATURED}
    return [Example(p.stem, _pretty(p.stem), _describe(p), p) for p in example_files()
            if p.stem not in keys]


def _describe(path: Path) -> str:
    """One line about a pipeline file: its network and solvers."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        nodes = data.get("nodes", {})
        net = next((n.get("kind") for n in nodes.values() if n.get("type") == "network"), "?")
        if net == "file":
            net = next((str(n.get("params", {}).get("path", "model file")).replace("assets:", "")
                        for n in nodes.values() if n.get("type") == "network"), net)
        solvers = [n.get("kind") for n in nodes.values() if n.get("type") == "solver"]
        return f"{net} · {', '.join(solvers)}"
    except (OSError, ValueError, AttributeError):
        return str(path)


def menu_entries() -> list[tuple[str, str, str]]:
    """(title, path, tooltip) of every installed example, the featured ones first."""
    out = [(e.title, str(e.path), e.text) for e in featured() if e.path is not None]
    out += [(e.title, str(e.path), f"{e.text}\n{e.path}") for e in others()]
    return out


# -- pictures ---------------------------------------------------------------------------------------
def picture_key(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


def render_example(path: Path, cancel=None):
    """RGB picture [PICTURE, PICTURE, 3] of the example's last branch (runs it; in a race, the
    last solver is usually the strongest)."""
    import numpy as np
    import torch

    from ...core.pipeline import Pipeline
    from ..backdrop import is_image, make_backdrop
    from .render import sample_picture

    data = json.loads(path.read_text(encoding="utf-8"))
    pipe = Pipeline.from_dict(data, str(path.parent), str(path))
    built = pipe.build()
    image = is_image(built.network.data_shape)
    batch = min(pipe.run.batch, IMAGES if image else POINTS)
    labels = pipe.run.labels
    if isinstance(labels, list):
        labels = labels[:batch]
    # the built pipeline reads its run settings when it runs: a small batch on the CPU
    pipe.run.batch, pipe.run.labels, pipe.run.device = batch, labels, "cpu"
    backdrop = make_backdrop(built.network, samples=1500)
    with torch.no_grad():
        *_, run = built.runs(cancel=cancel)
        for _ in run:
            pass
    samples = run.result.samples.detach().cpu().double().numpy()
    return np.ascontiguousarray(sample_picture(samples, backdrop.mode, backdrop, PICTURE))


def _picture(example: Example, cache: Path | None, cancel) -> bytes | None:
    """The example's picture as PNG bytes (written to ``cache`` too); None once cancelled."""
    if cancel.cancelled:
        return None
    from ...core.pngmeta import encode_png
    png = encode_png(render_example(example.path, cancel))
    if cache is not None:
        from ...core.pipeline import write_atomic
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(str(cache), png)
    return png


class ExamplePictures(QObject):
    """Pictures of examples: from the cache at once, else drawn in the background."""

    ready = Signal(str, bytes)        # example key, PNG bytes

    def __init__(self, cache_dir: Path | None, parent=None):
        super().__init__(parent)
        from ...core.runner import CancelToken
        self.cache_dir = cache_dir
        self.pictures: dict[str, bytes] = {}
        self._loader = Loader(self)
        self._cancel = CancelToken()
        self._asked: set[str] = set()

    def request(self, example: Example) -> bytes | None:
        """The picture if known (else drawn in the background; :attr:`ready` follows)."""
        if example.key in self.pictures:
            return self.pictures[example.key]
        if not example.available or example.key in self._asked:
            return None
        self._asked.add(example.key)
        cache = None
        if self.cache_dir is not None:
            try:
                cache = self.cache_dir / f"{example.key}-{picture_key(example.path)}.png"
                if cache.is_file():
                    self.pictures[example.key] = cache.read_bytes()
                    return self.pictures[example.key]
            except OSError:
                cache = None
        cancel = self._cancel
        # a card without a picture still opens: a failed picture is no message
        self._loader.submit(lambda: _picture(example, cache, cancel),
                            lambda png, _error, k=example.key: self._done(k, png))
        return None

    def _done(self, key: str, png) -> None:
        if png:
            self.pictures[key] = png
            self.ready.emit(key, png)

    def stop(self, ms: int = 20000) -> bool:
        """Cancel what is queued or running and wait for it."""
        self._cancel.cancel()
        self._loader.clear()
        return self._loader.wait(ms)

    def wait(self, ms: int = 60000) -> bool:
        return self._loader.wait(ms)


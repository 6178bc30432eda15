"""The model catalog: named built-in analytic models and model files found in library folders.

An :class:`Entry` is a network node (``{"type": "network", "kind": ..., "params": ...}``) with a
name, a title and a description. Entries come from *providers*: functions ``folders -> entries``
registered with :func:`provider`. The built-in provider lists Gaussian mixtures defined here as
data; the ``files`` provider lists model files in the library folders once a network kind that
loads files is registered. Another provider (a model zoo, a server) is one decorated function.

Torch/numpy only: the app's model browser and any command-line tool read the same catalog.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

__all__ = ["Entry", "provider", "providers", "entries", "builtin", "get", "default_library_dir",
           "MODEL_FILE_SUFFIXES", "DEFAULT_MODEL"]

#: the model of the default pipeline
DEFAULT_MODEL = "eight-gaussians"
#: file name endings the ``files`` provider lists
MODEL_FILE_SUFFIXES = (".safetensors",)


@dataclass
class Entry:
    """One model the user can put on the canvas."""

    name: str
    title: str
    node: dict
    description: str = ""
    source: str = "built-in"
    tags: tuple = ()
    _card: dict | None = field(default=None, repr=False, compare=False)
    #: a small PNG picture of the model (e.g. samples stored in a model file), if any
    preview_png: bytes | None = field(default=None, repr=False, compare=False)

    def network_node(self) -> dict:
        """A fresh copy of the network node (type, kind, params)."""
        return copy.deepcopy(self.node)

    def build(self, base_dir: str | None = None):
        """The network instance (raises StudioError on bad params or an unreadable file)."""
        from .pipeline import Node, build_plugin
        node = Node("network", "network", self.node["kind"], copy.deepcopy(self.node.get("params", {})))
        return build_plugin(node, f"model {self.name!r}", base_dir)

    def card(self) -> dict:
        """kind, title, data shape, parameterization, process, description (built once)."""
        if self._card is None:
            card = dict(self.build().card())
            card["name"] = self.name
            card["description"] = self.description
            card["source"] = self.source
            self._card = card
        return dict(self._card)


_PROVIDERS: dict[str, Callable[[list[str]], Iterable[Entry]]] = {}


def provider(name: str):
    """Register ``fn(folders) -> entries`` under ``name`` (re-registering replaces it)."""
    def deco(fn):
        _PROVIDERS[name] = fn
        return fn
    return deco


def providers() -> dict[str, Callable]:
    return dict(_PROVIDERS)


def entries(folders: Iterable[str] = ()) -> list[Entry]:
    """Every entry of every provider; a provider that fails is skipped (it must not hide others)."""
    folders = [f for f in folders if f]
    out: list[Entry] = []
    for fn in list(_PROVIDERS.values()):
        try:
            out.extend(fn(folders))
        except Exception:  # noqa: BLE001 - a broken provider must not break the catalog
            continue
    return out


def get(name: str, folders: Iterable[str] = ()) -> Entry:
    from .errors import StudioError
    for e in entries(folders):
        if e.name == name:
            return e
    raise StudioError(f"unknown model {name!r}; known: {', '.join(e.name for e in entries(folders))}",
                      "catalog")


def default_library_dir() -> str:
    """The per-user model library folder (it may not exist yet)."""
    from .library import user_dir
    return str(user_dir())


# -- built-in Gaussian mixtures -------------------------------------------------------------------
def _r(values) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()


def _gmm(means, vars=None, covs=None, weights=None) -> dict:
    params: dict = {"means": _r(means)}
    if covs is not None:
        params["covs"] = _r(covs)
    elif vars is not None:
        params["vars"] = _r(vars)
    if weights is not None:
        params["weights"] = _r(weights)
    return {"type": "network", "kind": "gmm", "params": params}


def _iso(means, std) -> dict:
    means = np.asarray(means, dtype=np.float64)
    return _gmm(means, vars=np.full(means.shape, std * std))


def _eight_gaussians():
    a = np.arange(8) * 2 * math.pi / 8
    return _iso(2.0 * np.stack([np.cos(a), np.sin(a)], 1), 0.15)


def _grid():
    g = np.linspace(-2.0, 2.0, 5)
    return _iso(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), 0.12)


def _two_moons():
    a = np.linspace(0, math.pi, 10)
    upper = np.stack([np.cos(a), np.sin(a)], 1) - [0.5, 0.25]
    lower = np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1) - [0.5, 0.25]
    return _iso(1.6 * np.concatenate([upper, lower]), 0.1)


def _spiral():
    s = np.linspace(0.15, 1.0, 28)
    ang = 3.2 * math.pi * s
    means = 2.4 * s[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
    std = 0.05 + 0.1 * s
    return _gmm(means, vars=np.repeat((std * std)[:, None], 2, 1), weights=s)


def _pinwheel():
    k = 5
    covs, means = [], []
    for i in range(k):
        a = 2 * math.pi * i / k
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        # elongated radially, then sheared into a swirl
        base = np.array([[0.45, 0.18], [0.18, 0.1]])
        covs.append(rot @ base @ rot.T)
        means.append(rot @ np.array([1.6, 0.45]))
    return _gmm(means, covs=covs)


def _unbalanced():
    return _gmm([[-1.5, 0.0], [1.5, 0.0], [0.0, 1.8]], vars=[[0.3, 0.3], [0.1, 0.1], [0.05, 0.4]],
                weights=[0.75, 0.2, 0.05])


def _clusters(dim: int, k: int, seed: int, spread: float, std_range=(0.1, 0.4)):
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, spread, (k, dim))
    stds = rng.uniform(*std_range, (k, dim))
    return _gmm(means, vars=stds * stds, weights=rng.uniform(0.5, 1.5, k))


def _low_rank(dim: int, seed: int):
    """A ring of clusters on a random 2-D plane of R^dim, plus small isotropic noise."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    a = np.arange(6) * 2 * math.pi / 6
    means = (2.0 * np.stack([np.cos(a), np.sin(a)], 1)) @ basis.T
    return _iso(means, 0.15)


_BUILTIN = [
    ("eight-gaussians", "Eight Gaussians", _eight_gaussians,
     "Eight isotropic modes on a circle of radius 2 (std 0.15): the classic mode-coverage test.",
     ("2-D",)),
    ("grid-25", "Grid of 25", _grid,
     "A 5 x 5 grid of narrow modes (std 0.12) in [-2, 2]^2: many well-separated modes.", ("2-D",)),
    ("two-moons", "Two moons", _two_moons,
     "Two interleaved half circles, each a chain of 10 Gaussians (std 0.1).", ("2-D",)),
    ("spiral", "Spiral", _spiral,
     "A spiral arm of 28 Gaussians whose width and weight grow outwards: thin, curved support.",
     ("2-D",)),
    ("pinwheel", "Pinwheel", _pinwheel,
     "Five elongated, rotated Gaussians with full covariances.", ("2-D",)),
    ("unbalanced", "Unbalanced trio", _unbalanced,
     "Three modes with weights 0.75 / 0.2 / 0.05 and different shapes: tests weight recovery.",
     ("2-D",)),
    ("clusters-8d", "Clusters in 8-D", lambda: _clusters(8, 6, 8, 1.5),
     "Six axis-aligned Gaussians in 8 dimensions with random means and widths (seed 8).", ("8-D",)),
    ("ring-plane-32d", "Ring on a plane in 32-D", lambda: _low_rank(32, 32),
     "Six modes on a circle lying in a random 2-D plane of R^32: low intrinsic dimension.",
     ("32-D",)),
    ("clusters-64d", "Clusters in 64-D", lambda: _clusters(64, 10, 64, 1.0, (0.2, 0.6)),
     "Ten Gaussians in 64 dimensions (seed 64): high-dimensional, mildly separated.", ("64-D",)),
]


def builtin() -> list[Entry]:
    return [Entry(name, title, make(), desc, "built-in", tags)
            for name, title, make, desc, tags in _BUILTIN]


@provider("built-in")
def _builtin_provider(folders: list[str]) -> list[Entry]:
    return builtin()


@provider("files")
def _files_provider(folders: list[str]) -> list[Entry]:
    """Model files of the model library (bundled, the user's library, extra folders and
    ``folders``), as ``file`` network nodes (noise-conditional classifiers as ``classifier``
    guidance nodes); their cards come from the files' metadata, so listing never loads weights."""
    from .registry import NETWORKS
    if "file" not in NETWORKS:
        return []
    from . import library
    specs = NETWORKS.specs("file")
    key = "path" if any(s.name == "path" for s in specs) else specs[0].name
    out = []
    for item in library.list_models(extra=list(folders)):
        card = item.card()
        stem = os.path.basename(item.path).rsplit(".", 1)[0]
        title = str(card.get("title") or card.get("name") or stem)
        desc = str(card.get("description") or "") or (
            f"Cannot be used: {item.error}" if item.error else f"Model file {item.path}")
        card = dict(card, name=stem, description=desc, source=item.source)
        card.setdefault("kind", "file")
        spec = getattr(item.info, "spec", None)
        if spec is not None and spec.is_classifier:
            # a noise-conditional classifier is not a network: it is the classifier of a
            # classifier guidance node
            node = {"type": "guidance", "kind": "classifier",
                    "params": {"classifier": item.reference}}
            tags = ("file", item.source, "classifier")
        else:
            node = {"type": "network", "kind": "file", "params": {key: item.reference}}
            tags = ("file", item.source)
        out.append(Entry(stem, title, node, desc, source=item.source, tags=tags, _card=card,
                         preview_png=getattr(getattr(item.info, "spec", None), "preview_png", None)))
    return out


from .hf import catalog as _hf_catalog  # noqa: E402,F401  (registers the "diffusers" provider)

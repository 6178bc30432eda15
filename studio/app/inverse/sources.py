"""Priors and ground truths for the inverse-problem panel (Qt-free).

A :class:`Prior` is the model the methods sample from (a network node plus the process to run it
under) and says what its data look like. Ground truths come from the prior's data set (an item of
scikit-learn's digits, of a trained model's training data), from an image file (read with Pillow,
fitted to the prior's image shape) or, for a Gaussian mixture, from a sample of the prior itself.
Everything is in the data's own units (digits: values / 16, in [0, 1]).
"""
from __future__ import annotations

import copy
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ...core.errors import StudioError

#: the process analytic priors run under (the inverse-problem benchmarks use it too)
ANALYTIC_PROCESS = {"kind": "vp-linear", "params": {}}
DIGITS = {"kind": "digits", "params": {}}


@dataclass
class Prior:
    key: str
    title: str
    kind: str                        # "image" | "points"
    data_shape: tuple
    network: dict                    # {"kind", "params"} (an empirical prior's data: filled later)
    process: dict = field(default_factory=lambda: dict(ANALYTIC_PROCESS))
    #: gradients flow through the network (DPS and PiGDM need them)
    differentiable: bool = True
    value_range: Optional[tuple] = None
    #: where ground truths come from: a data set spec {"kind", "params"} (None: prior samples)
    dataset: Optional[dict] = None
    #: the network is the empirical denoiser of ``dataset`` (the truth can be left out of it)
    empirical: bool = False
    description: str = ""

    def network_node(self, data: np.ndarray | None = None) -> dict:
        node = {"kind": self.network["kind"], "params": copy.deepcopy(self.network["params"])}
        if self.empirical:
            node["params"]["data"] = data
        return node


def analytic_priors() -> list[Prior]:
    """The priors that need no file: the digits' empirical denoiser and the catalog's mixtures."""
    from ...core import catalog
    out = [Prior("digits-empirical", "Digits 8x8 — empirical denoiser (exact)", "image", (1, 8, 8),
                 {"kind": "empirical", "params": {}}, value_range=(0.0, 1.0), dataset=DIGITS,
                 empirical=True,
                 description="The exact denoiser of scikit-learn's 1797 digits: every method "
                             "works with it, and it is fast.")]
    for e in catalog.builtin():
        if e.node.get("kind") != "gmm":
            continue
        means = e.node["params"]["means"]
        out.append(Prior(f"gmm:{e.name}", f"{e.title} — Gaussian mixture (exact)", "points",
                         (len(means[0]),), e.network_node(), description=e.description))
    return out


def model_priors(extra: list[str] | None = None) -> list[Prior]:
    """Trained models of the model library (reads file headers only: call it off the UI thread)."""
    from ...core import library
    out = []
    for item in library.list_models(extra=extra):
        if item.info is None:
            continue
        spec = item.info.spec
        if spec.is_classifier:
            continue
        ds = (spec.training or {}).get("dataset")
        kind = "image" if spec.data_kind == "image" else "points"
        rng = tuple(spec.data_range) if spec.data_range else None
        title = spec.name or os.path.basename(item.path)
        net = {"kind": "file", "params": {"path": item.reference}}
        proc = {"kind": spec.process["kind"], "params": dict(spec.process.get("params", {}))}
        out.append(Prior(f"model:{item.reference}", f"{title} — trained model", kind,
                         tuple(spec.data_shape), net, proc,
                         value_range=rng,
                         dataset={"kind": ds["kind"], "params": dict(ds.get("params", {}))}
                         if isinstance(ds, dict) and "kind" in ds else None,
                         description=spec.description))
    return out


# -- data sets ------------------------------------------------------------------------------------
_CACHE: dict[str, np.ndarray] = {}


def _digits_fast() -> np.ndarray | None:
    """scikit-learn's digits straight from its data file (importing scikit-learn takes a second)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    if not os.path.exists(path):
        return None
    raw = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return (raw[:, :64] / 16.0).reshape(-1, 1, 8, 8)


def dataset_key(ds: dict) -> str:
    return repr((ds["kind"], sorted(ds.get("params", {}).items())))


def cached_dataset(ds: dict) -> np.ndarray | None:
    return _CACHE.get(dataset_key(ds))


def load_dataset(ds: dict) -> np.ndarray:
    """The items [N, *shape] (float32, data units) of a data set spec; cached. May take a while."""
    key = dataset_key(ds)
    if key not in _CACHE:
        x = _digits_fast() if ds["kind"] == "digits" and not ds.get("params") else None
        if x is None:
            from ...core.params import build
            from ...core.training.data import DATASETS
            cls = DATASETS.get(ds["kind"], "dataset.kind")
            x = build(cls, dict(ds.get("params", {})), "dataset").load(0).x
        _CACHE[key] = np.ascontiguousarray(x, dtype=np.float32)
    return _CACHE[key]


# -- ground truths --------------------------------------------------------------------------------
def prior_sample(prior: Prior, seed: int) -> np.ndarray:
    """One sample of an analytic prior (a Gaussian mixture)."""
    from ...core.pipeline import Node, build_plugin
    net = build_plugin(Node("prior", "network", prior.network["kind"], prior.network["params"]),
                       "prior")
    g = torch.Generator().manual_seed(int(seed))
    return net.sample(1, generator=g)[0].detach().cpu().numpy().astype(np.float64)


def image_from_file(path: str, shape: tuple, value_range=(0.0, 1.0)) -> np.ndarray:
    """An image file as one data item of ``shape`` ([C, H, W] or [H, W]): grey or RGB, centre
    cropped to the aspect ratio, resized (Lanczos), scaled to the value range."""
    from PIL import Image, UnidentifiedImageError
    shape = tuple(shape)
    chans = shape[0] if len(shape) == 3 else 1
    h, w = shape[-2:]
    try:
        with Image.open(path) as im:
            im = im.convert("L" if chans == 1 else "RGB")
            iw, ih = im.size
            scale = min(iw / w, ih / h)
            cw, ch = w * scale, h * scale
            left, top = (iw - cw) / 2, (ih - ch) / 2
            im = im.resize((w, h), Image.LANCZOS, box=(left, top, left + cw, top + ch))
            arr = np.asarray(im, dtype=np.float64) / 255.0
    except FileNotFoundError:
        raise StudioError("file not found", path) from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise StudioError(f"cannot read the image: {exc}", path) from None
    if chans == 1:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)[:chans]
    lo, hi = value_range or (0.0, 1.0)
    arr = lo + arr * (hi - lo)
    return arr.reshape(shape)


__all__ = ["Prior", "analytic_priors", "model_priors", "load_dataset", "cached_dataset",
           "prior_sample", "image_from_file", "DIGITS"]

"""An inverse problem as the panel edits it, and the pipeline that solves it (Qt-free).

:class:`Problem` holds the choices (prior, ground truth, operator, mask, noise, methods, sampler);
:func:`pipeline_dict` turns them into a ``studio.pipeline/1`` document with one guidance node and
one solver per method, all on the same measurement y (branches run side by side), and
:func:`export_pipeline` writes it with the mask, y and an empirical prior's data as ``.npy`` files
beside it, so that ``studio run`` runs it headless.
"""
from __future__ import annotations

import copy
import io
import json
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ...core.errors import StudioError
from ...core.inverse.guidance import build_operator
from ...core.pipeline import FORMAT, Pipeline, write_atomic
from ...core.registry import GUIDANCE
from .sources import Prior

#: the inverse-problem guidance kinds, in the order the panel lists them
METHODS = ("replace", "dps", "pigdm", "ddnm", "red-diff", "dds", "tds", "mcgdiff", "fps", "ir-sde")
#: the particle methods (batch = populations x particles; their ESS and weights are plotted)
PARTICLE_METHODS = ("tds", "mcgdiff", "fps")
#: parameters every method shares: the panel sets them from the problem, not per method
SHARED = ("operator", "y", "sigma_y")
#: methods that differentiate through the network
NEEDS_GRAD = ("dps", "pigdm", "tds")
#: methods that compute the exact posterior of an analytic prior (refuse trained networks)
ANALYTIC_ONLY = ("ir-sde",)
ANALYTIC_NETWORKS = ("gmm", "gaussian", "empirical")
IMAGE_OPERATORS = ("inpaint", "super-resolution", "blur", "colorize", "projection")
VECTOR_OPERATORS = ("inpaint", "projection")
DEFAULT_OP_PARAMS = {"inpaint": {}, "super-resolution": {"factor": 2}, "blur": {"sigma": 1.0},
                     "colorize": {}, "projection": {"m": 1, "seed": 0}}
DEFAULT_SOLVER = ("ddim", {"steps": 50, "eta": 1.0, "schedule": "uniform"})


def method_presets(kind: str) -> dict:
    """Method parameters that suit the data (DPS's paper step is for 256x256x3 images)."""
    return {"dps": {"zeta": 0.1 if kind == "image" else 0.01},
            **{m: {"particles": 8} for m in PARTICLE_METHODS}}


def default_mask(prior: Prior) -> np.ndarray:
    """Images: the lower half unobserved ([H, W], broadcast over channels); vectors: only the
    first coordinate observed."""
    if prior.kind == "image":
        h, w = prior.data_shape[-2:]
        m = np.ones((h, w))
        m[h // 2:] = 0.0
        return m
    m = np.zeros(int(np.prod(prior.data_shape)))
    m[0] = 1.0
    return m.reshape(prior.data_shape)


def unusable(prior: Prior, method: str) -> Optional[str]:
    """Why ``method`` cannot run on ``prior`` (shown as a tooltip), or None."""
    if method in NEEDS_GRAD and not prior.differentiable:
        return ("needs gradients through the network; this trained model evaluates without them "
                "(use an analytic prior)")
    if method in ANALYTIC_ONLY and prior.network.get("kind") not in ANALYTIC_NETWORKS:
        return ("needs a network conditioned on the degraded image; the exact one is computed for "
                "analytic priors only (Gaussian mixtures, the digits' empirical denoiser)")
    return None


def operators_for(prior: Prior) -> tuple[str, ...]:
    if prior.kind != "image":
        return VECTOR_OPERATORS
    ops = IMAGE_OPERATORS
    if not (len(prior.data_shape) == 3 and prior.data_shape[0] == 3):
        ops = tuple(o for o in ops if o != "colorize")
    return ops


def sr_factors(prior: Prior) -> list[int]:
    """Super-resolution factors the image size allows."""
    h, w = prior.data_shape[-2:]
    return [k for k in range(2, min(h, w) + 1) if h % k == 0 and w % k == 0]


@dataclass
class Problem:
    prior: Prior
    truth: np.ndarray                         # one data item, data units
    truth_label: str = ""
    holdout: Optional[int] = None             # the truth's index in the prior's data set
    prior_data: Optional[np.ndarray] = None   # an empirical prior's data set
    leave_out: bool = True                    # drop the truth from an empirical prior
    operator: str = "inpaint"
    op_params: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_OP_PARAMS))
    mask: Optional[np.ndarray] = None         # inpainting: 1 = observed
    sigma_y: float = 0.05
    noise_seed: int = 0
    enabled: dict = field(default_factory=lambda: {m: m in ("replace", "dps", "ddnm")
                                                    for m in METHODS})
    method_params: dict = field(default_factory=lambda: {m: {} for m in METHODS})
    solver: str = DEFAULT_SOLVER[0]
    solver_params: dict = field(default_factory=lambda: dict(DEFAULT_SOLVER[1]))
    batch: int = 16
    seed: int = 0

    # -- the measurement ---------------------------------------------------------------------------
    def operator_spec(self, mask_ref=None) -> dict:
        spec = {"kind": self.operator, **self.op_params.get(self.operator, {})}
        if self.operator == "inpaint":
            spec["mask"] = self.mask if mask_ref is None else mask_ref
        return spec

    def build_operator(self):
        return build_operator(self.operator_spec()).bind(self.prior.data_shape)

    def measure(self, op=None) -> np.ndarray:
        """y = A x + sigma_y n for the ground truth (noise from ``noise_seed``)."""
        op = op or self.build_operator()
        g = torch.Generator().manual_seed(int(self.noise_seed))
        x = torch.as_tensor(np.asarray(self.truth, dtype=np.float64))[None]
        return op.measure(x, float(self.sigma_y), g)[0].numpy()

    def runnable_methods(self) -> list[str]:
        return [m for m in METHODS if self.enabled.get(m) and unusable(self.prior, m) is None]

    def problem(self) -> Optional[str]:
        """Why it cannot run, or None."""
        if not self.runnable_methods():
            return "choose at least one method"
        if self.prior.empirical and self.prior_data is None:
            return "the prior's data are still loading"
        if self.operator == "inpaint" and self.mask is not None and not np.any(self.mask):
            return "the mask hides everything: paint back some observed pixels"
        return None

    def empirical_data(self) -> Optional[np.ndarray]:
        if not self.prior.empirical or self.prior_data is None:
            return None
        if self.leave_out and self.holdout is not None and len(self.prior_data) > 1:
            return np.delete(self.prior_data, self.holdout, axis=0)
        return self.prior_data


def pipeline_dict(p: Problem, y: np.ndarray, refs: dict | None = None) -> dict:
    """The pipeline document. Arrays are numpy arrays (for a run in the app) unless ``refs`` maps
    "mask", "y", "data" to what to write instead (the exported ``.npy`` file names)."""
    refs = refs or {}
    data = p.empirical_data()
    net = p.prior.network_node(refs.get("data", data))
    nodes = {"process": {"type": "process", **copy.deepcopy(p.prior.process)},
             "prior": {"type": "network", **net}}
    links = [["process", "prior"]]
    op = p.operator_spec(refs.get("mask"))
    for m in p.runnable_methods():
        params = {"operator": op, "y": refs.get("y", y), "sigma_y": float(p.sigma_y),
                  **copy.deepcopy(p.method_params.get(m, {}))}
        nodes[f"g-{m}"] = {"type": "guidance", "kind": m, "params": params}
        nodes[m] = {"type": "solver", "kind": p.solver, "params": copy.deepcopy(p.solver_params)}
        links += [["prior", f"g-{m}"], [f"g-{m}", m]]
    run = {"batch": int(p.batch), "seed": int(p.seed), "device": "cpu", "dtype": "float64"}
    return {"format": FORMAT, "nodes": nodes, "links": links, "run": run}


def build_pipeline(p: Problem, y: np.ndarray) -> Pipeline:
    return Pipeline.from_dict(pipeline_dict(p, y), source="inverse problem")


def method_title(kind: str, short: bool = False) -> str:
    """The method's title ("DPS (diffusion posterior sampling)"), or its short form ("DPS")."""
    try:
        title = getattr(GUIDANCE.get(kind), "title", "") or kind
    except StudioError:
        return kind
    return title.split(" (")[0] if short else title


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def export_pipeline(p: Problem, y: np.ndarray, path: str) -> list[str]:
    """Write the pipeline to ``path`` with ``STEM.mask.npy``, ``STEM.y.npy``, ``STEM.truth.npy``
    and (an empirical prior) ``STEM.prior.npy`` beside it; returns the files written."""
    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.basename(path)
    stem = stem[:-5] if stem.lower().endswith(".json") else stem
    arrays = {"y": np.asarray(y, dtype=np.float64),
              "truth": np.asarray(p.truth, dtype=np.float64)}
    if p.operator == "inpaint":
        arrays["mask"] = np.asarray(p.mask, dtype=np.float64)
    data = p.empirical_data()
    if data is not None:
        arrays["prior"] = np.asarray(data, dtype=np.float32)
    names = {k: f"{stem}.{k}.npy" for k in arrays}
    refs = {"y": names["y"], "mask": names.get("mask"), "data": names.get("prior")}
    doc = pipeline_dict(p, y, refs)
    doc["inverse"] = {"truth": names["truth"], "truth_label": p.truth_label,
                      "prior": p.prior.title, "note": "written by the Inverse problems panel; "
                      "the truth is for reference (the pipeline reads only y)"}
    Pipeline.from_dict(doc, folder, path)          # refuse to write an invalid pipeline
    written = []
    for k, arr in arrays.items():
        target = os.path.join(folder, names[k])
        write_atomic(target, _npy_bytes(arr))
        written.append(target)
    write_atomic(path, json.dumps(doc, indent=2) + "\n")
    return [path] + written


__all__ = ["Problem", "METHODS", "PARTICLE_METHODS", "SHARED", "NEEDS_GRAD", "ANALYTIC_ONLY",
           "unusable", "pipeline_dict", "build_pipeline",
           "export_pipeline", "default_mask", "operators_for", "sr_factors", "method_presets",
           "method_title"]

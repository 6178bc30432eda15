"""Editing by inversion: data -> noise with the pipeline's ODE solver, then regenerate from that
noise under another condition (a class label, a guidance scale).

:func:`invert_and_regenerate` inverts ``data`` with the source pipeline (no guidance, or the
source condition), regenerates it unchanged (the reconstruction: how exact the inversion is) and
under the edited condition: a guidance node and labels put between the network and the same
solver. With a ``gmm`` prior and ``classifier`` guidance with the exact classifier, the label is a
mixture component: points inverted from one component and regenerated with another label keep
their place relative to the component (DDIM-inversion editing, as in Mokady et al. 2023 and
Hertz et al. 2023, on a prior whose classes are exact).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from .errors import PipelineError
from .invert import invert


@dataclass
class EditResult:
    original: np.ndarray
    z: np.ndarray
    reconstruction: np.ndarray
    edited: np.ndarray
    nfe_invert: int
    nfe_regenerate: int

    @property
    def rmse(self) -> float:
        """Root-mean-square error of the reconstruction (the inversion's round trip)."""
        return float(np.sqrt(np.mean((self.reconstruction - self.original) ** 2)))


def _with_guidance(doc: dict, guidance: Optional[dict], labels: Any, n: int) -> dict:
    """``doc`` with batch n, labels, and (if given) a guidance node before every solver."""
    doc = copy.deepcopy(doc)
    doc.setdefault("run", {})["batch"] = int(n)
    doc["run"].pop("start", None)
    if labels is not None:
        doc["run"]["labels"] = labels if isinstance(labels, int) else [int(v) for v in labels]
    else:
        doc["run"].pop("labels", None)
    if guidance is None:
        return doc
    nodes, links = doc["nodes"], doc["links"]
    nets = [k for k, v in nodes.items() if v.get("type") == "network"]
    if len(nets) != 1:
        raise PipelineError("the pipeline needs one network node", "pipeline")
    gid = "edit-guidance"
    nodes[gid] = {"type": "guidance", **copy.deepcopy(guidance)}
    solvers = [k for k, v in nodes.items() if v.get("type") == "solver"]
    doc["links"] = [link for link in links if not (link[0] == nets[0] and link[1] in solvers)]
    doc["links"] += [[nets[0], gid]] + [[gid, s] for s in solvers]
    return doc


def invert_and_regenerate(doc: dict, data, guidance: Optional[dict] = None, labels: Any = None,
                          source_guidance: Optional[dict] = None, source_labels: Any = None,
                          solver: Optional[str] = None, base_dir: Optional[str] = None
                          ) -> EditResult:
    """Invert ``data`` [N, *data_shape] with ``doc`` (optionally under ``source_guidance`` /
    ``source_labels``), then regenerate it unchanged and under ``guidance`` / ``labels``."""
    from .pipeline import Pipeline
    if any(v.get("type") == "guidance" for v in doc.get("nodes", {}).values()):
        raise PipelineError("the source pipeline already has a guidance node: give one without "
                            "(the edit's condition is added to it)", "pipeline")
    data = torch.as_tensor(np.asarray(data, dtype=np.float64))
    n = int(data.shape[0])
    src = Pipeline.from_dict(_with_guidance(doc, source_guidance, source_labels, n), base_dir,
                             "edit source").build()
    z, nfe_inv = invert(src, data, solver)
    sid = solver or next(b.solver for b in src.branches
                         if not src.solvers[b.solver].is_stochastic())
    recon = src.run(noise=z)[sid]
    edit = Pipeline.from_dict(_with_guidance(doc, guidance, labels, n), base_dir, "edit").build()
    edited = edit.run(noise=z)[sid]
    return EditResult(data.numpy(), z.numpy(), recon.samples.numpy(), edited.samples.numpy(),
                      int(nfe_inv), int(edited.nfe))


def sdedit(doc: dict, data, t: float, guidance: Optional[dict] = None, labels: Any = None,
           noise: bool = True, base_dir: Optional[str] = None) -> np.ndarray:
    """SDEdit (Meng et al. 2022): forward-noise ``data`` to time t and sample back from there
    (``run.start``), under ``guidance`` / ``labels`` if given; the first solver's samples."""
    from .pipeline import Pipeline
    data = np.asarray(data, dtype=np.float64)
    d = _with_guidance(doc, guidance, labels, len(data))
    d["run"]["start"] = {"t": float(t), "x": data.tolist(), "noise": bool(noise)}
    built = Pipeline.from_dict(d, base_dir, "sdedit").build()
    res = built.run()
    return res[built.branches[0].solver].samples.numpy()


__all__ = ["EditResult", "invert_and_regenerate", "sdedit"]

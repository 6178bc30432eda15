"""The empirical optimal denoiser of a finite data set (it memorises the data).

For data {x_i}, E[x0 | x_t] = sum_i softmax_i(-|x_t - alpha x_i|^2 / (2 sigma^2)) x_i: the exact
minimiser of the denoising loss on that set, so a perfect network trained on it would be this.
Under a process with another perturbation kernel (PFGM++: ``Process.log_kernel``) the softmax
weights are that kernel's, so the prediction is again the exact posterior mean.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..arrays import load_array
from ..errors import ParamError
from ..params import param
from ..processes.base import as_time
from ..registry import NETWORKS
from .base import Network


@NETWORKS.register("empirical")
@dataclass
class Empirical(Network):
    """Exact posterior mean over the points of an array [N, *data_shape] (.npy path or inline)."""

    title = "Empirical optimal denoiser (memorises its data)"
    parameterization = "x0"
    data: Any = param(doc="data set [N, ...]: a .npy path (relative to the pipeline) or a nested list",
                      ui="path")
    chunk: int = param(4096, "points per block (bounds memory: batch x chunk distances)", min=1)
    _base_dir: str = field(default="", repr=False)

    def __post_init__(self):
        super().__post_init__()
        arr = load_array(self.data, "data", self._base_dir or None)
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise ParamError(f"data must be [N, ...] with N >= 1, got shape {list(arr.shape)}", "data")
        self._data = arr

    @property
    def data_shape(self):
        return tuple(self._data.shape[1:])

    @property
    def points(self) -> np.ndarray:
        return self._data

    flow_map_kind = "reference"

    def flow_map(self, x, t, s, process, labels=None):
        """Reference Phi(x, t, s): the PF-ODE solved by adaptive Dormand-Prince (float64)."""
        from ..flowmap import reference_flow_map
        return reference_flow_map(self, process, x, t, s, labels)

    def predict(self, x, t, process, labels=None):
        t = as_time(t, x)
        a = process.alpha(t).to(x.dtype).reshape(-1, 1)
        s = process.sigma(t).to(x.dtype).reshape(-1, 1)
        pts = self._on("pts", self._data.reshape(len(self._data), -1), x)   # [N, D]
        xf = x.reshape(len(x), -1)
        # Streaming log-sum-exp over blocks of points keeps memory at batch x chunk.
        m = torch.full((len(x), 1), -torch.inf, dtype=x.dtype, device=x.device)
        num = torch.zeros_like(xf)
        den = torch.zeros((len(x), 1), dtype=x.dtype, device=x.device)
        sq = (pts * pts).sum(1)
        # a process with a non-Gaussian perturbation kernel (PFGM++) gives its own log-weights
        kernel = getattr(process, "log_kernel", None)
        for start in range(0, len(pts), self.chunk):
            p = pts[start:start + self.chunk]
            d2 = (xf * xf).sum(1, keepdim=True) - 2 * a * xf @ p.T + (a * a) * sq[start:start + self.chunk]
            logits = kernel(d2, s, xf.shape[1]) if kernel is not None else -0.5 * d2 / (s * s)
            m_new = torch.maximum(m, logits.max(1, keepdim=True).values)
            scale = torch.exp(m - m_new)
            w = torch.exp(logits - m_new)
            num = num * scale + w @ p
            den = den * scale + w.sum(1, keepdim=True)
            m = m_new
        return (num / den).reshape(x.shape)

    def card(self):
        out = super().card()
        out["points"] = int(self._data.shape[0])
        return out

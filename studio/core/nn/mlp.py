"""``mlp``: a residual MLP for low-dimensional data (2-D toy sets, feature vectors)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ParamError
from ..params import param
from .layers import Conditioning, zero_
from .registry import ARCHITECTURES, Architecture


class _Block(nn.Module):
    def __init__(self, width: int, emb: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.emb = nn.Linear(emb, width)
        self.drop = nn.Dropout(dropout)
        self.fc2 = zero_(nn.Linear(width, width))

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        y = self.fc1(torch.nn.functional.silu(self.norm(h))) + self.emb(e)
        return h + self.fc2(self.drop(torch.nn.functional.silu(y)))


class ResidualMLP(nn.Module):
    def __init__(self, dim: int, width: int, depth: int, emb_dim: int, num_classes: int,
                 dropout: float, fourier: int = 0, fourier_scale: float = 1.0,
                 flow_map: bool = False):
        super().__init__()
        self.dim = dim
        self.cond = Conditioning(emb_dim, num_classes, second_time=flow_map)
        if fourier:
            # Random Fourier features of the input (Tancik et al. 2020): fixed, stored with the
            # weights, drawn from their own seeded generator so every build is identical.
            g = torch.Generator().manual_seed(1234)
            # (on the CPU, where the generator is, even under torch.device("meta"))
            freqs = torch.randn(dim, fourier, generator=g, device="cpu") * fourier_scale
            self.register_buffer("fourier_freqs", freqs)
        else:
            self.fourier_freqs = None
        self.inp = nn.Linear(dim + 2 * fourier, width)
        self.blocks = nn.ModuleList(_Block(width, emb_dim, dropout) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = zero_(nn.Linear(width, dim))

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None,
                c_noise_s: Tensor | None = None) -> Tensor:
        shape = x.shape
        e = torch.nn.functional.silu(self.cond(c_noise, labels, c_noise_s))
        flat = x.reshape(len(x), -1)
        if self.fourier_freqs is not None:
            arg = (2 * math.pi) * flat @ self.fourier_freqs.to(flat.dtype)
            flat = torch.cat([flat, torch.sin(arg), torch.cos(arg)], dim=1)
        h = self.inp(flat)
        for blk in self.blocks:
            h = blk(h, e)
        return self.out(torch.nn.functional.silu(self.out_norm(h))).reshape(shape)


@ARCHITECTURES.register("mlp")
@dataclass
class MLP(Architecture):
    """Residual MLP (pre-norm blocks, SiLU) with a sinusoidal noise embedding and a class
    embedding; for data of a few dimensions."""

    title = "Residual MLP (low-dimensional data)"
    width: int = param(256, "hidden width", min=8, max=8192)
    depth: int = param(4, "number of residual blocks", min=1, max=64)
    emb_dim: int = param(128, "noise/class embedding size (even)", min=8, max=4096)
    dropout: float = param(0.0, "dropout inside the blocks (training only)", min=0.0, max=0.9)
    fourier: int = param(0, "random Fourier features of the input (0: off); help sharp detail",
                         min=0, max=1024)
    fourier_scale: float = param(1.0, "standard deviation of the Fourier frequencies (cycles per "
                                 "unit of the normalised data)", min=0.0)
    flow_map: bool = param(False, "a second time embedding for the target time s: a flow-map "
                           "network (x_t, t, s) -> x_s, trained by the flow-map objectives")

    def __post_init__(self):
        if self.emb_dim % 2:
            raise ParamError("must be even", "emb_dim")

    def check(self, data_shape, num_classes):
        n = math.prod(data_shape) if data_shape else 0
        if n < 1 or n > 4096:
            raise ParamError(f"mlp takes data of 1..4096 values per item, got shape {list(data_shape)}",
                             "data shape")

    def module(self, data_shape, num_classes):
        self.check(data_shape, num_classes)
        return ResidualMLP(math.prod(data_shape), self.width, self.depth, self.emb_dim, num_classes,
                           self.dropout, self.fourier, self.fourier_scale, self.flow_map)

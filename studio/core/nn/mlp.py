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
                 dropout: float):
        super().__init__()
        self.dim = dim
        self.cond = Conditioning(emb_dim, num_classes)
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(_Block(width, emb_dim, dropout) for _ in range(depth))
        self.out_norm = nn.LayerNorm(width)
        self.out = zero_(nn.Linear(width, dim))

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None) -> Tensor:
        shape = x.shape
        e = torch.nn.functional.silu(self.cond(c_noise, labels))
        h = self.inp(x.reshape(len(x), -1))
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
                           self.dropout)

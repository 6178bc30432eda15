"""``classifier``: a noise-conditional classifier p(y | x_t, t) for classifier guidance.

Images [C, H, W] go through a convolutional encoder (the U-Net's residual blocks with group norm
and scale-shift noise embedding, strided-conv downsampling, global average pooling); vectors
through residual MLP blocks. Either ends in a linear head with one logit per class. The module
sees the noisy input only (no label input): ``forward(x, c_noise, labels=None) -> [B, classes]``.
Dhariwal & Nichol (2021) guide with the encoder half of their U-Net in the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ParamError
from ..params import param
from .layers import Conditioning
from .mlp import _Block
from .registry import ARCHITECTURES, Architecture
from .unet import ResBlock, check_levels


class ImageEncoder(nn.Module):
    def __init__(self, channels_in: int, ch: int, mults: list[int], blocks: int, emb_dim: int,
                 groups: int, dropout: float, num_classes: int):
        super().__init__()
        self.cond = Conditioning(emb_dim, 0, fourier_dim=ch)
        self.conv_in = nn.Conv2d(channels_in, ch, 3, padding=1)
        self.blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        cur = ch
        for i, m in enumerate(mults):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(cur, ch * m, emb_dim, groups, dropout))
                cur = ch * m
            self.blocks.append(level)
            if i < len(mults) - 1:
                self.downsample.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1))
        self.norm_out = nn.GroupNorm(groups, cur)
        self.head = nn.Linear(cur, num_classes)

    def features(self, x: Tensor, c_noise: Tensor) -> Tensor:
        """The pooled penultimate features [B, channels] (what the head reads)."""
        e = F.silu(self.cond(c_noise, None))
        h = self.conv_in(x)
        for i, level in enumerate(self.blocks):
            for blk in level:
                h = blk(h, e)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        return F.silu(self.norm_out(h)).mean(dim=(2, 3))

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c_noise))


class VectorEncoder(nn.Module):
    def __init__(self, dim: int, width: int, depth: int, emb_dim: int, dropout: float,
                 num_classes: int):
        super().__init__()
        self.cond = Conditioning(emb_dim, 0)
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList(_Block(width, emb_dim, dropout) for _ in range(depth))
        self.norm_out = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: Tensor, c_noise: Tensor) -> Tensor:
        """The penultimate features [B, width] (what the head reads)."""
        e = F.silu(self.cond(c_noise, None))
        h = self.inp(x.reshape(len(x), -1))
        for blk in self.blocks:
            h = blk(h, e)
        return F.silu(self.norm_out(h))

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head(self.features(x, c_noise))


@ARCHITECTURES.register("classifier")
@dataclass
class Classifier(Architecture):
    """Noise-conditional classifier: a convolutional encoder for images, residual MLP blocks for
    vectors, a linear head with one logit per class."""

    title = "Noise-conditional classifier (for classifier guidance)"
    #: what a module of this architecture outputs (the model file's parameterization)
    output = "logits"
    channels: int = param(32, "images: channels at full resolution", min=8, max=512)
    mults: list[int] = param(default_factory=lambda: [1, 2], doc="images: channel multiplier per "
                             "level; each level after the first halves the resolution")
    blocks: int = param(2, "images: residual blocks per level", min=1, max=8)
    groups: int = param(8, "images: group-norm groups (must divide every channel count)", min=1)
    width: int = param(128, "vectors: hidden width", min=8, max=8192)
    depth: int = param(3, "vectors: number of residual blocks", min=1, max=64)
    emb_dim: int = param(128, "noise embedding size (even)", min=8, max=4096)
    dropout: float = param(0.1, "dropout inside the blocks (training only)", min=0.0, max=0.9)

    def __post_init__(self):
        if self.emb_dim % 2:
            raise ParamError("must be even", "emb_dim")
        check_levels(self.channels, self.mults, self.groups)

    def check(self, data_shape, num_classes):
        if num_classes < 2:
            raise ParamError("a classifier needs a labelled data set with at least 2 classes "
                             f"(got {num_classes})", "classes")
        if len(data_shape) == 3:
            c, h, w = data_shape
            if c > 4 or min(h, w) < 4:
                raise ParamError(f"classifier takes images of 1-4 channels and at least 4x4 "
                                 f"pixels, got {list(data_shape)}", "data shape")
            div = 2 ** (len(self.mults) - 1)
            if h % div or w % div:
                raise ParamError(f"{len(self.mults)} levels need sizes divisible by {div}, got "
                                 f"{h}x{w}", "data shape")
            return
        n = math.prod(data_shape) if data_shape else 0
        if len(data_shape) != 1 or not 1 <= n <= 4096:
            raise ParamError("classifier takes images [C, H, W] or vectors of 1..4096 values, got "
                             f"shape {list(data_shape)}", "data shape")

    def module(self, data_shape, num_classes):
        self.check(data_shape, num_classes)
        if len(data_shape) == 3:
            return ImageEncoder(data_shape[0], self.channels, list(self.mults), self.blocks,
                                self.emb_dim, self.groups, self.dropout, num_classes)
        return VectorEncoder(data_shape[0], self.width, self.depth, self.emb_dim, self.dropout,
                             num_classes)

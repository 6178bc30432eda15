"""``unet``: a small U-Net for images (8x8 up to 64x64, 1 or 3 channels).

Residual blocks with group norm and a scale-shift noise/class embedding, self-attention at the low
resolutions, strided-conv downsampling and nearest-neighbour upsampling, skip connections by
concatenation (Ho et al. 2020; Dhariwal & Nichol 2021 for the scale-shift conditioning).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ParamError
from ..params import param
from .layers import Conditioning, zero_
from .registry import ARCHITECTURES, Architecture


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = zero_(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(e)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, ch: int, groups: int, head_dim: int):
        super().__init__()
        self.heads = max(1, ch // head_dim)
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = zero_(nn.Conv2d(ch, ch, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2),
                                             v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class _Level(nn.Module):
    def __init__(self, blocks, attns):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attns = nn.ModuleList(attns)


class UNetModule(nn.Module):
    def __init__(self, channels_in: int, size: int, ch: int, mults: list[int], blocks: int,
                 attn_res: int, emb_dim: int, groups: int, head_dim: int, dropout: float,
                 num_classes: int, flow_map: bool = False):
        super().__init__()
        self.cond = Conditioning(emb_dim, num_classes, fourier_dim=ch, second_time=flow_map)
        self.conv_in = nn.Conv2d(channels_in, ch, 3, padding=1)
        chans = [ch * m for m in mults]

        def attn(c: int, res: int) -> nn.Module:
            return Attention(c, groups, head_dim) if res <= attn_res else nn.Identity()
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [ch]
        cur, res = ch, size
        for i, c in enumerate(chans):
            bl, at = [], []
            for _ in range(blocks):
                bl.append(ResBlock(cur, c, emb_dim, groups, dropout))
                at.append(attn(c, res))
                cur = c
                skips.append(cur)
            self.down.append(_Level(bl, at))
            if i < len(chans) - 1:
                self.downsample.append(nn.Conv2d(cur, cur, 3, stride=2, padding=1))
                skips.append(cur)
                res //= 2
        self.mid1 = ResBlock(cur, cur, emb_dim, groups, dropout)
        self.mid_attn = Attention(cur, groups, head_dim)
        self.mid2 = ResBlock(cur, cur, emb_dim, groups, dropout)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, c in reversed(list(enumerate(chans))):
            bl, at = [], []
            for _ in range(blocks + 1):
                bl.append(ResBlock(cur + skips.pop(), c, emb_dim, groups, dropout))
                at.append(attn(c, res))
                cur = c
            self.up.append(_Level(bl, at))
            if i > 0:
                self.upsample.append(nn.Conv2d(cur, cur, 3, padding=1))
                res *= 2
        self.norm_out = nn.GroupNorm(groups, cur)
        self.conv_out = zero_(nn.Conv2d(cur, channels_in, 3, padding=1))

    def forward(self, x: Tensor, c_noise: Tensor, labels: Tensor | None = None,
                c_noise_s: Tensor | None = None) -> Tensor:
        e = F.silu(self.cond(c_noise, labels, c_noise_s))
        h = self.conv_in(x)
        hs = [h]
        for i, level in enumerate(self.down):
            for blk, att in zip(level.blocks, level.attns):
                h = att(blk(h, e))
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e)), e)
        for i, level in enumerate(self.up):
            for blk, att in zip(level.blocks, level.attns):
                h = att(blk(torch.cat([h, hs.pop()], dim=1), e))
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def check_levels(channels: int, mults, groups: int) -> None:
    """Validate a convolutional pyramid's channels, per-level multipliers and group-norm groups."""
    if not mults or any((not isinstance(m, int)) or m < 1 for m in mults):
        raise ParamError("must be a non-empty list of positive integers", "mults")
    if len(mults) > 5:
        raise ParamError("at most 5 levels", "mults")
    for m in mults:
        if (channels * m) % groups:
            raise ParamError(f"groups ({groups}) must divide every channel count "
                             f"({channels} x {m})", "groups")
    if channels % 2:
        raise ParamError("must be even", "channels")


@ARCHITECTURES.register("unet")
@dataclass
class UNet(Architecture):
    """Small U-Net: residual blocks with group norm, attention at low resolution, noise and class
    embedding; images [C, H, W] with H = W from 8 to 64."""

    title = "U-Net (images 8x8 to 64x64)"
    channels: int = param(32, "channels at full resolution", min=8, max=512)
    mults: list[int] = param(default_factory=lambda: [1, 2], doc="channel multiplier per level; "
                             "each level after the first halves the resolution")
    blocks: int = param(1, "residual blocks per level", min=1, max=8)
    attn_res: int = param(4, "self-attention at resolutions up to this (and always in the middle)",
                          min=0, max=64)
    emb_dim: int = param(128, "noise/class embedding size", min=8, max=4096)
    groups: int = param(8, "group-norm groups (must divide every channel count)", min=1)
    head_dim: int = param(32, "channels per attention head", min=4)
    dropout: float = param(0.0, "dropout inside the residual blocks (training only)", min=0.0,
                           max=0.9)
    flow_map: bool = param(False, "a second time embedding for the target time s: a flow-map "
                           "network (x_t, t, s) -> x_s, trained by the flow-map objectives")

    def __post_init__(self):
        check_levels(self.channels, self.mults, self.groups)

    def check(self, data_shape, num_classes):
        if len(data_shape) != 3:
            raise ParamError(f"unet takes images [C, H, W], got shape {list(data_shape)}", "data shape")
        c, h, w = data_shape
        if c not in (1, 2, 3, 4):
            raise ParamError(f"unet takes 1 to 4 channels, got {c}", "data shape")
        if h != w or not 8 <= h <= 64:
            raise ParamError(f"unet takes square images 8x8 to 64x64, got {h}x{w}", "data shape")
        div = 2 ** (len(self.mults) - 1)
        if h % div:
            raise ParamError(f"{len(self.mults)} levels need a size divisible by {div}, got {h}",
                             "data shape")

    def module(self, data_shape, num_classes):
        self.check(data_shape, num_classes)
        c, h, _ = data_shape
        return UNetModule(c, h, self.channels, list(self.mults), self.blocks, self.attn_res,
                          self.emb_dim, self.groups, self.head_dim, self.dropout, num_classes,
                          self.flow_map)

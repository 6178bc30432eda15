"""Layers shared by the architectures: noise embedding, class embedding."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FourierEmbedding(nn.Module):
    """Sinusoidal features of the scalar noise conditioning, geometric frequencies.

    ``c_noise`` lies roughly in [-3, 3] (log-sigma input) or [0, 1] (time input); the frequencies
    span 0.1 .. 100 radians per unit so both coarse and fine changes in the noise level are visible.
    """

    def __init__(self, dim: int, f_min: float = 0.1, f_max: float = 100.0):
        super().__init__()
        if dim % 2:
            raise ValueError("embedding dimension must be even")
        # computed on the CPU even under ``torch.device("meta")`` (the model library builds
        # modules there to check a file's tensor shapes): an op on meta tensors imports
        # torch._dynamo, seconds of `studio models list`
        freqs = torch.exp(torch.linspace(math.log(f_min), math.log(f_max), dim // 2,
                                         device="cpu"))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, c: Tensor) -> Tensor:
        arg = c.reshape(-1, 1).to(self.freqs.dtype) * self.freqs
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class Conditioning(nn.Module):
    """Noise-level embedding (+ class embedding with a null class): [B] -> [B, dim].

    With ``second_time`` (flow-map models, which jump from time t to time s) a second embedding
    of the target time is added. It embeds the gap c_noise(t) - c_noise(s) (0 on the diagonal
    s = t; MeanFlow, Geng et al. 2025, found the gap a better second input than s itself) through
    its own Fourier features and MLP, so the first embedding keeps meaning "the current time".
    """

    def __init__(self, dim: int, num_classes: int, fourier_dim: int | None = None,
                 second_time: bool = False):
        super().__init__()
        fourier_dim = fourier_dim or dim
        self.fourier = FourierEmbedding(fourier_dim)
        self.mlp = nn.Sequential(nn.Linear(fourier_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.num_classes = num_classes
        self.classes = nn.Embedding(num_classes + 1, dim) if num_classes > 0 else None
        if second_time:
            self.fourier_s = FourierEmbedding(fourier_dim)
            self.mlp_s = nn.Sequential(nn.Linear(fourier_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        else:
            self.mlp_s = None

    def forward(self, c_noise: Tensor, labels: Tensor | None,
                c_noise_s: Tensor | None = None) -> Tensor:
        emb = self.mlp(self.fourier(c_noise))
        if self.mlp_s is not None:
            gap = c_noise - (c_noise if c_noise_s is None else c_noise_s)
            emb = emb + self.mlp_s(self.fourier_s(gap))
        if self.classes is not None:
            if labels is None:
                labels = torch.full((emb.shape[0],), self.num_classes, dtype=torch.long,
                                    device=emb.device)
            emb = emb + self.classes(labels)
        return emb


def zero_(module: nn.Module) -> nn.Module:
    """Zero a layer's parameters (residual branches start as the identity)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module

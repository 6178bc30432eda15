"""The linear latent -> RGB preview map is the least-squares fit through the VAE's encoder: for an
encoder that is itself linear per latent pixel it is recovered exactly."""
from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from studio.core.hf.preview import apply_latent_rgb, fit_latent_rgb, smooth_images


class LinearVAE(torch.nn.Module):
    """encode: 2x2 average pool, then z = A rgb + b per latent pixel (4 channels)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = torch.nn.Parameter(torch.randn(4, 3, generator=g))
        self.b = torch.randn(4, generator=g)
        self.config = SimpleNamespace(scaling_factor=0.5, shift_factor=0.1)

    def encode(self, img):
        pooled = F.avg_pool2d(img, 2).permute(0, 2, 3, 1)
        mean = (pooled @ self.A.T + self.b).permute(0, 3, 1, 2)
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mean))


def test_fit_recovers_a_linear_encoder():
    vae = LinearVAE()
    w = fit_latent_rgb(vae, 2)
    assert w.shape == (5, 3)
    imgs = smooth_images(3, 16, seed=7)
    z = (vae.encode(imgs).latent_dist.mean - 0.1) * 0.5
    with torch.no_grad():
        rgb = apply_latent_rgb(z, w)
    target = F.avg_pool2d(imgs / 2 + 0.5, 2)
    assert rgb.shape == (8, 3, 8, 8)
    assert float((rgb - target).abs().max()) < 1e-4

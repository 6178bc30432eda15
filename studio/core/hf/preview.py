"""A cheap live preview of latents: one linear map latent channels -> RGB per VAE.

Decoding with the VAE at every step of a run costs as much as a network call or more; the views
only need a hint of the picture. Over smooth images the decoder is close to linear per latent
pixel, so RGB ~= [z, 1] W with W a (C + 1) x 3 matrix. W is fitted once per VAE by least squares
on smooth synthetic colour fields passed through the VAE's own encoder (latents in the sampling
space: (mean - shift_factor) * scaling_factor) against the images average-pooled to the latent
grid. The final samples are still the exact VAE decode.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def smooth_images(n: int, size: int, seed: int = 0) -> Tensor:
    """n smooth random colour fields [n, 3, size, size] in [-1, 1] (bilinear upsampling of a
    coarse random grid, with a few flat-colour images for the extremes)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g) * 2 - 1
    img = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)
    flat = torch.tensor([[1, 1, 1], [-1, -1, -1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
                        dtype=img.dtype)[:, :, None, None].expand(-1, -1, size, size)
    return torch.cat([img, flat])


def fit_latent_rgb(vae, factor: int, size: int = 32, n: int = 11) -> Tensor:
    """The (C + 1) x 3 least-squares map from sampling-space latents (plus a constant) to RGB in
    [0, 1] on the latent grid."""
    size = max(size, 4 * factor)
    size -= size % factor
    imgs = smooth_images(n, size)
    p = next(vae.parameters())
    cfg = vae.config
    with torch.no_grad():
        post = vae.encode(imgs.to(p.device, p.dtype)).latent_dist
        z = (post.mean.float().cpu() - (getattr(cfg, "shift_factor", None) or 0.0)) \
            * cfg.scaling_factor
    target = F.avg_pool2d(imgs / 2 + 0.5, factor)
    c = z.shape[1]
    a = torch.cat([z.permute(0, 2, 3, 1).reshape(-1, c), torch.ones(z[:, 0].numel(), 1)], 1)
    b = target.permute(0, 2, 3, 1).reshape(-1, 3)
    return torch.linalg.lstsq(a.double(), b.double()).solution.float()


def apply_latent_rgb(z: Tensor, w: Tensor) -> Tensor:
    """[B, C, h, w] latents -> [B, 3, h, w] preview in [0, 1]."""
    zz = z.float().permute(0, 2, 3, 1)
    w = w.to(zz.device)
    rgb = zz @ w[:-1] + w[-1]
    return rgb.permute(0, 3, 1, 2).clamp(0, 1)

"""Shared by the classifier-free guidance family (not a guidance kind itself)."""
from __future__ import annotations

import torch
from torch import Tensor

from ..errors import StudioError


def cond_uncond(net, x: Tensor, t: Tensor, labels: Tensor | None, where: str) -> tuple[Tensor, Tensor]:
    """The conditional and unconditional predictions from ONE network call on the doubled batch
    [x; x] with labels [y; -1] (-1 = the null class), in the network's parameterization."""
    if labels is None:
        raise StudioError(f"{where} needs class labels: set run.labels", f"guidance {where}")
    b = x.shape[0]
    lab = labels.expand(b) if labels.ndim == 0 else labels
    t2 = torch.cat([t, t]) if t.ndim > 0 else t
    both = net(torch.cat([x, x]), t2, torch.cat([lab, torch.full_like(lab, -1)]))
    return both[:b], both[b:]


def per_sample_dot(a: Tensor, b: Tensor) -> Tensor:
    """<a_i, b_i> over every axis but the batch, shaped to broadcast against a."""
    dims = tuple(range(1, a.ndim))
    return (a * b).sum(dim=dims, keepdim=True)

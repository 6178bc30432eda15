"""Batched conjugate gradients: one independent symmetric positive (semi-)definite system per item."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _bdot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).reshape(a.shape[0], -1).sum(1)


def _col(v: Tensor, like: Tensor) -> Tensor:
    return v.reshape(v.shape[0], *([1] * (like.ndim - 1)))


def cg(apply: Callable[[Tensor], Tensor], b: Tensor, x0: Tensor, iters: int,
       tol: float = 1e-10) -> Tensor:
    """``iters`` conjugate-gradient iterations on apply(x) = b from x0, for every item of the batch
    separately (Hestenes & Stiefel 1952). Items whose residual falls below ``tol`` (relative to
    ||b||, or to the initial residual if b = 0) stop moving; so does an item whose direction has
    (numerically) zero curvature p^T A p.
    """
    x = x0.clone()
    r = b - apply(x)
    p = r.clone()
    rs = _bdot(r, r)
    bnorm = torch.maximum(_bdot(b, b), rs).clamp_min(torch.finfo(b.dtype).tiny)
    eps = torch.finfo(b.dtype).eps
    for _ in range(iters):
        if bool((rs <= (tol * tol) * bnorm).all()):
            break
        ap = apply(p)
        pap = _bdot(p, ap)
        active = (pap > eps * eps * _bdot(p, p)) & (rs > (tol * tol) * bnorm)
        step = torch.where(active, rs / torch.where(active, pap, torch.ones_like(pap)),
                           torch.zeros_like(pap))
        x = x + _col(step, x) * p
        r = r - _col(step, r) * ap
        rs_new = _bdot(r, r)
        beta = torch.where(active, rs_new / torch.where(active, rs, torch.ones_like(rs)),
                           torch.zeros_like(rs))
        p = r + _col(beta, p) * p
        rs = rs_new
    return x

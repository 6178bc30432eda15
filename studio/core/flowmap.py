"""Reference flow maps: the probability-flow ODE's solution map Phi(x, t, s), for grading.

A network with a closed-form ODE solution (``gaussian``) gives Phi exactly. For the others
(``gmm``, ``empirical``, any trained denoiser) :func:`reference_flow_map` integrates the PF-ODE
dx/dt = u(x, t) from t to s with the engine's adaptive Dormand-Prince 5(4) integrator
(:func:`studio.core.odeint.dopri5`) in float64: slow, and exact to its tolerance. Times follow
:data:`studio.core.nn.flowmap.TIME_PAIR` (from the current time t to the target time s).

:class:`AnalyticFlowMap` presents such a network with the interface of a learned flow-map model
in the velocity parameterization (``jump``, ``average_velocity``, ``forward``), so the training
objectives can be evaluated at the exact map: their losses vanish there (tests).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import StudioError
from .processes.base import Process, as_time

#: default tolerances of the reference solve (float64)
RTOL = 1e-8
ATOL = 1e-8


def _pairs(t, s, b: int, like: Tensor) -> tuple[Tensor, Tensor]:
    t, s = as_time(t, like), as_time(s, like)
    return (t.expand(b) if t.ndim == 0 else t), (s.expand(b) if s.ndim == 0 else s)


def reference_flow_map(network, process: Process, x: Tensor, t, s, labels: Tensor | None = None,
                       rtol: float = RTOL, atol: float = ATOL) -> Tensor:
    """Phi(x, t, s) by an adaptive solve of the PF-ODE of ``network`` under ``process``.

    ``t`` and ``s`` are scalars or one time per sample; samples that share a (t, s) pair are solved
    together. Computed in float64 and returned in x's dtype.
    """
    from .model import Denoiser

    b = x.shape[0]
    tt, ss = _pairs(t, s, b, x)
    xd = x.to(torch.float64)
    out = xd.clone()
    keys = torch.stack([tt, ss], 1).cpu()
    uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
    for k, (t0, t1) in enumerate(uniq.tolist()):
        idx = (inverse == k).nonzero().flatten().to(x.device)
        if t0 == t1:
            continue
        lab = labels[idx] if labels is not None else None
        model = Denoiser(network, process, labels=lab)
        for lim in (t0, t1):
            if not float(process.t_min) - 1e-12 <= lim <= float(process.t_max) + 1e-12:
                raise StudioError(f"time {lim:.6g} is outside the process's range "
                                  f"[{process.t_min}, {process.t_max}]", "flow map")

        def f(tau: float, y: Tensor) -> Tensor:
            return model(y, tau).velocity
        from .odeint import dopri5
        out[idx] = dopri5(f, xd[idx], t0, t1, rtol=rtol, atol=atol).y
    return out.to(x.dtype)


class AnalyticFlowMap(torch.nn.Module):
    """A network's flow map (exact or reference) as a flow-map model in the velocity
    parameterization: ``jump``, ``average_velocity`` U = (Phi - x) / (s - t) (the velocity itself
    where s = t) and ``forward`` (the velocity at (x, t)). No trainable parameters."""

    parameterization = "velocity"

    def __init__(self, network, process: Process):
        super().__init__()
        self.network, self.process = network, process

    def jump(self, x: Tensor, t, s, labels: Tensor | None = None) -> Tensor:
        return self.network.flow_map(x, t, s, self.process, labels)

    def forward(self, x: Tensor, t, labels: Tensor | None = None) -> Tensor:
        from .model import Denoiser
        return Denoiser(self.network, self.process, labels=labels)(x, t).velocity

    def average_velocity(self, x: Tensor, t, s, labels: Tensor | None = None) -> Tensor:
        b = x.shape[0]
        tt, ss = _pairs(t, s, b, x)
        view = (b,) + (1,) * (x.ndim - 1)
        gap = (ss - tt).to(x.dtype).reshape(view)
        same = gap == 0
        safe = torch.where(same, torch.ones_like(gap), gap)
        avg = (self.jump(x, tt, ss, labels) - x) / safe
        return torch.where(same, self.forward(x, tt, labels), avg)


def jump_arrows(network, process: Process, t: float, s: float, n: int = 15,
                labels: Tensor | None = None, extent: float = 2.5) -> tuple[Tensor, Tensor]:
    """The jump map of a 2-D network: an n x n grid of points x_t at time t (centred at alpha_t
    times the network's origin, half-width ``extent`` sqrt(alpha_t^2 + sigma_t^2) in its units)
    and their images Phi(x_t, t, s). Returns (start [n*n, 2], end [n*n, 2]) in float64."""
    if tuple(network.data_shape) != (2,):
        raise StudioError(f"the jump map draws 2-D data; this network's items have shape "
                          f"{list(network.data_shape)}", "network")
    if not getattr(network, "flow_map_kind", ""):
        raise StudioError(f"network {network.id!r} has no flow map (use a flow-map model, or a "
                          "gaussian, gmm or empirical network)", "network")
    tt = as_time(t)
    half = extent * float(torch.sqrt(process.alpha(tt) ** 2 + process.sigma(tt) ** 2))
    axis = torch.linspace(-half, half, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    start = torch.stack([gx.flatten(), gy.flatten()], 1)
    if labels is not None:
        labels = labels.expand(len(start)) if labels.ndim == 0 else labels
    from .model import Denoiser
    den = Denoiser(network, process, labels=labels)
    with torch.no_grad():
        end = den.jump(start.to(network.default_dtype), float(t), float(s))
    return start, end.to(torch.float64)

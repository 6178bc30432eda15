"""The denoiser that solvers call: network + process (+ guidance), with NFE counting.

``Denoiser(x, t)`` evaluates the network once and returns a :class:`Prediction` that converts
lazily into any parameterization, so every solver runs with every network and every process.
A trained network whose training process differs from the pipeline's is queried at the time of
equal log-SNR with x rescaled (x' = x sigma_train / sigma): exact, since x0 and eps are unchanged.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .guidance.base import Guidance
from .networks.base import Network
from .parameterization import Coeffs, convert, from_x0_eps, to_x0_eps
from .params import to_params
from .processes.base import Process, _bcast, as_time


class Prediction:
    """One network evaluation at (x, t), viewable as x0, eps, v, score or velocity."""

    __slots__ = ("x", "t", "coeffs", "kind", "value", "_cache")

    def __init__(self, x: Tensor, t: Tensor, coeffs: Coeffs, kind: str, value: Tensor):
        self.x, self.t, self.coeffs, self.kind, self.value = x, t, coeffs, kind, value
        self._cache: dict[str, Tensor] = {kind: value}

    def as_(self, kind: str) -> Tensor:
        if kind not in self._cache:
            self._cache[kind] = convert(self.value, self.kind, kind, self.x, self.coeffs)
        return self._cache[kind]

    x0 = property(lambda self: self.as_("x0"))
    eps = property(lambda self: self.as_("eps"))
    v = property(lambda self: self.as_("v"))
    score = property(lambda self: self.as_("score"))
    velocity = property(lambda self: self.as_("velocity"))


def same_process(a: Process, b: Process) -> bool:
    return type(a) is type(b) and to_params(a) == to_params(b)


class Denoiser:
    """What solvers evaluate. Counts network evaluations in :attr:`nfe`."""

    def __init__(self, network: Network, process: Process, guidance: Guidance | None = None,
                 labels: Tensor | None = None):
        self.network, self.process, self.guidance, self.labels = network, process, guidance, labels
        trained = network.trained_process
        self._adapt = trained if trained is not None and not same_process(trained, process) else None
        self.nfe = 0

    def coeffs(self, t: Tensor, like: Tensor, process: Process | None = None) -> Coeffs:
        p = process or self.process
        t = as_time(t, like)
        a, s, da, ds = p.coeffs(t)
        cast = lambda v: _bcast(v, like).to(like.dtype)  # noqa: E731
        return Coeffs(cast(a), cast(s), cast(da), cast(ds))

    def _net(self, x: Tensor, t: Tensor, labels: Tensor | None) -> Tensor:
        """The raw network at the pipeline's (x, t), in the network's parameterization."""
        if self._adapt is None:
            return self.network.predict(x, t, self.process, labels)
        # Query the network at the time of equal log-SNR under its own process; return (x0, eps)
        # re-expressed in the network's parameterization under the pipeline's process.
        tp = self._adapt
        t2 = torch.clamp(tp.t_of_logsnr(self.process.logsnr(t)), tp.t_min, tp.t_max)
        scale = _bcast(tp.sigma(t2) / self.process.sigma(t), x).to(x.dtype)
        kind = self.network.parameterization
        pred = self.network.predict(x * scale, t2, tp, labels)
        x0, eps = to_x0_eps(kind, pred, x * scale, self.coeffs(t2, x, tp))
        c = self.coeffs(t, x)
        return from_x0_eps(kind, x0, eps, c)

    def jump(self, x: Tensor, t, s) -> Tensor:
        """One flow-map evaluation Phi(x, t, s) (counts one NFE); the network must have a flow
        map. Under another process than the network's own, both times move to equal log-SNR and
        x is rescaled there and back (ODE trajectories are the same in x / alpha against
        sigma / alpha for every process)."""
        from .errors import StudioError
        if self.guidance is not None:
            raise StudioError("guidance applies to denoisers, not to flow-map jumps: sample a "
                              "flow-map model without guidance", "guidance")
        self.nfe += 1
        if self._adapt is None:
            return self.network.flow_map(x, t, s, self.process, self.labels)
        tp, p = self._adapt, self.process

        def move(tt):
            tt = as_time(tt, x)
            t2 = torch.clamp(tp.t_of_logsnr(p.logsnr(tt)), tp.t_min, tp.t_max)
            k = torch.sqrt((tp.alpha(t2) ** 2 + tp.sigma(t2) ** 2)
                           / (p.alpha(tt) ** 2 + p.sigma(tt) ** 2))
            return t2, k
        t2, k_t = move(t)
        s2, k_s = move(s)
        y = self.network.flow_map(x * _bcast(k_t, x).to(x.dtype), t2, s2, tp, self.labels)
        return y / _bcast(k_s, x).to(x.dtype)

    def __call__(self, x: Tensor, t) -> Prediction:
        t = as_time(t, x)
        c = self.coeffs(t, x)
        self.nfe += 1
        if self.guidance is None:
            kind, value = self.network.parameterization, self._net(x, t, self.labels)
        else:
            kind, value = self.guidance.guide(self._net, self.network.parameterization, x, t, c,
                                              self.labels)
        return Prediction(x, t, c, kind, value)

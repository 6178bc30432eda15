"""The common base of the inverse-problem guidance kinds (``replace``, ``dps``, ``pigdm``,
``ddnm``, ``red-diff``, ``dds``).

Every kind shares three node parameters: ``operator`` (``{"kind": "inpaint", "mask": ...}`` with the
operator's own parameters), ``y`` (the measurement: an inline list or a ``.npy`` path relative to the
pipeline; shaped like one measurement, broadcast to the batch, or ``[batch, ...]`` for one
measurement per sample) and ``sigma_y`` (the measurement noise's standard deviation).

Methods that only change the network's prediction implement :meth:`Guidance.guide`; methods that
change x_t between steps also override :meth:`Guidance.drive`, usually through
:func:`stepwise`, which advances the chosen solver one interval at a time (so a multistep solver
restarts its history at every step; single-step solvers are unaffected).

For the app: :meth:`InverseGuidance.residual` gives ``||y - A x0||`` per sample from a step
event's x0-prediction.

Units: ``y`` and ``sigma_y`` are in the data's own units. A trained model that records a
normalisation (data = model * scale + shift, ``studio.core.modelfile``) works in its own units:
:meth:`InverseGuidance.bind` maps y to them, y_model = (y - A shift) / scale and
sigma_model = sigma_y / scale (exact for a linear A and one scale for all channels), and
:meth:`residual` reports in data units again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor

from ..arrays import load_array
from ..errors import ParamError, StudioError
from ..guidance.base import Guidance
from ..parameterization import Coeffs, convert
from ..params import build, param
from .operators import OPERATORS, Operator

# NOTE: studio.core.model and studio.core.solvers import the guidance package, which imports the
# kinds, which import this module: so Prediction, Step and SolveContext are imported lazily.


def build_operator(spec: Any, base_dir: str | None = None, where: str = "operator") -> Operator:
    """An operator from ``{"kind": id, **params}`` (errors name ``where`` and the field)."""
    if isinstance(spec, Operator):
        return spec
    if not isinstance(spec, dict):
        raise ParamError('expected an object such as {"kind": "inpaint", "mask": "mask.npy"}', where)
    kind = spec.get("kind")
    if not isinstance(kind, str):
        raise ParamError(f"missing the operator kind; valid: {', '.join(OPERATORS.ids())}",
                         f"{where}.kind")
    try:
        cls = OPERATORS.get(kind)
    except StudioError as exc:
        raise ParamError(exc.problem, f"{where}.kind") from None
    params = {k: v for k, v in spec.items() if k != "kind"}
    return build(cls, params, where, {"_base_dir": base_dir or ""})


def per_sample(v) -> Tensor:
    """A coefficient broadcast against x [B, ...] (scalar or [B, 1, ...]) as a scalar or [B]."""
    v = torch.as_tensor(v)
    return v if v.ndim == 0 else v.reshape(v.shape[0], -1)[:, 0]


def col(v, like: Tensor):
    """A scalar or [B] coefficient shaped to broadcast against ``like`` [B, ...]."""
    if not isinstance(v, Tensor) or v.ndim == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (like.ndim - 1)))


@dataclass
class InverseGuidance(Guidance):
    """Base class: a linear measurement y = A x + sigma_y n and how to condition on it."""

    operator: dict = param(doc='measurement operator: {"kind": "inpaint" | "super-resolution" | '
                               '"blur" | "colorize" | "projection", ...its params}', ui="operator")
    y: Any = param(doc="measurement: .npy path (relative to the pipeline) or nested list; one "
                       "measurement (broadcast) or one per sample [batch, ...]", ui="path")
    sigma_y: float = param(0.0, "measurement noise standard deviation", min=0.0)
    _base_dir: str = field(default="", repr=False, kw_only=True)

    def __post_init__(self) -> None:
        self.op = build_operator(self.operator, self._base_dir or None)
        self._y = load_array(self.y, "y", self._base_dir or None)
        self._y_data = self._y
        self._scale = 1.0
        self._ycache: dict = {}

    @property
    def sy(self) -> float:
        """sigma_y in the network's units (= sigma_y unless the model records a normalisation)."""
        return self.sigma_y / self._scale

    # -- shapes ---------------------------------------------------------------------------------
    def bind(self, network, process=None) -> None:
        self.bind_shape(network.data_shape)
        self._bind_units(network)

    def _bind_units(self, network) -> None:
        """Map y to the units of a trained model that records a normalisation."""
        spec = getattr(network, "spec", None)
        if spec is None or not hasattr(spec, "to_model_units"):
            return
        scale = np.asarray(spec.scale, dtype=np.float64).reshape(-1)
        if scale.size == 0 or not np.all(scale == scale[0]) or scale[0] == 0:
            raise ParamError(f"the model normalises each channel differently (scale "
                             f"{scale.tolist()}); y cannot be mapped to its units", "y")
        k = float(scale[0])
        zero = torch.zeros((1,) + tuple(self.op.data_shape), dtype=torch.float64)
        shift = -k * spec.to_model_units(zero)                 # the shift, broadcast to one item
        a_shift = self.op.measured(self.op.forward(shift)).numpy()
        self._y = (self._y_data - a_shift[0]) / k
        self._scale = k
        self._ycache = {}

    def bind_shape(self, data_shape) -> None:
        """Validate the operator and y against one data item's shape."""
        try:
            self.op.bind(tuple(data_shape))
        except ParamError as exc:
            w = exc.where or ""
            raise ParamError(exc.problem, "operator" if w in ("", "operator") else f"operator.{w}") \
                from None
        out = tuple(self.op.out_shape)
        ys = tuple(self._y.shape)
        if ys != out and ys[1:] != out:
            raise ParamError(f"y has shape {list(ys)}; operator {self.op.id!r} on data "
                             f"{list(data_shape)} measures {list(out)} (give that, or "
                             f"[batch, {', '.join(map(str, out))}] for one per sample)", "y")

    def y_like(self, x: Tensor) -> Tensor:
        """The measurement for the batch x [B, *data_shape], as [B, *out_shape] (unmeasured
        entries of an in-place layout zeroed)."""
        if self.op._shape != tuple(x.shape[1:]):
            self.bind_shape(x.shape[1:])
        key = (x.device, x.dtype, x.shape[0])
        if key not in self._ycache:
            y = torch.as_tensor(self._y).to(device=x.device, dtype=x.dtype)
            out = tuple(self.op.out_shape)
            if tuple(y.shape) == out:
                y = y.expand((x.shape[0],) + out)
            elif y.shape[0] != x.shape[0]:
                raise ParamError(f"y holds {y.shape[0]} measurements but the batch has "
                                 f"{x.shape[0]} samples (give one measurement, or one per sample)",
                                 "y")
            self._ycache = {key: self.op.measured(y.contiguous())}
        return self._ycache[key]

    def residual(self, x0: Tensor) -> Tensor:
        """||y - A x0|| per sample [B] over the measured entries, in the data's units, for an x0 in
        the network's units (a step event's x0-prediction)."""
        x0 = x0.to(torch.float64)
        r = self.y_like(x0) - self.op.measured(self.op.forward(x0))
        return r.reshape(r.shape[0], -1).norm(dim=1) * self._scale

    # -- helpers for the kinds ------------------------------------------------------------------
    @staticmethod
    def x0_of(net, kind: str, x: Tensor, t: Tensor, coeffs: Coeffs, labels) -> Tensor:
        return convert(net(x, t, labels), kind, "x0", x, coeffs)

    def needs_grad(self, x0: Tensor) -> None:
        """Raise a clear error if the network's output carries no gradient (a network that
        evaluates under torch.no_grad cannot drive DPS or PiGDM)."""
        if not x0.requires_grad:
            raise StudioError(f"guidance {self.id!r} differentiates through the network, but this "
                              "network returns no gradient (it evaluates under torch.no_grad)",
                              f"guidance {self.id}")

    def guide(self, net, kind, x, t, coeffs, labels):
        """Default: the network unchanged (kinds that only change the trajectory)."""
        return kind, net(x, t, labels)


# -- stepping helpers -------------------------------------------------------------------------------
def one_step(solver, ctx, x: Tensor, ts: Tensor, i: int):
    """Advance the solver from ts[i] to ts[i + 1] (one interval of its own grid)."""
    last = None
    for last in solver.sample(ctx, x, ts[i:i + 2]):
        pass
    if last is None:
        raise RuntimeError(f"solver {solver.id!r} yielded no step")
    return last


_CACHED_CTX: dict = {}


def _cached_context_class():
    if "cls" not in _CACHED_CTX:
        from ..solvers.base import SolveContext

        @dataclass
        class CachedContext(SolveContext):
            """Answers one known (x, t) from a prediction computed beforehand, so that a method
            which needed that prediction with gradients does not pay a second evaluation."""

            def __call__(self, x: Tensor, t):
                hit = getattr(self, "_hit", None)
                if hit is not None and x is hit[0] and float(t) == hit[1]:
                    self._hit = None
                    return hit[2]
                return self.model(x, t)

        _CACHED_CTX["cls"] = CachedContext
    return _CACHED_CTX["cls"]


def cached_context(base, x: Tensor, t, pred):
    """A copy of the solver context ``base`` that returns ``pred`` for the call ctx(x, t)."""
    cls = _cached_context_class()
    c = cls(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.init})
    c._hit = (x, float(t), pred)
    return c


def renoise(process, x: Tensor, t_from, t_to, noise: Tensor) -> Tensor:
    """Forward-diffuse x from t_from to the noisier t_to: a sample of q(x_{t_to} | x_{t_from})."""
    a0, s0 = process.alpha(t_from), process.sigma(t_from)
    a1, s1 = process.alpha(t_to), process.sigma(t_to)
    ratio = a1 / a0
    std = torch.sqrt(torch.clamp(s1 ** 2 - (ratio * s0) ** 2, min=0.0))
    return (ratio.to(x.dtype) * x + std.to(x.dtype) * noise).to(x.dtype)


def final_prediction(ctx, x: Tensor, t, x0: Tensor):
    """A Prediction at (x, t) whose x0 is ``x0`` (handed to the runner's final denoise)."""
    from ..model import Prediction
    c = ctx.model.coeffs(torch.as_tensor(t, dtype=torch.float64), x)
    return Prediction(x, torch.as_tensor(t, dtype=torch.float64), c, "x0", x0)


def resampling_drive(solver, ctx, x: Tensor, ts: Tensor, after, jump_length: int,
                     resamples: int, final=None) -> Iterator:
    """Advance one interval at a time, apply ``after(x, i)`` (x at ts[i]) after each, and, if
    ``resamples > 1``, RePaint's resampling jumps (Lugmayr et al. 2022): every ``jump_length``
    steps, diffuse x back ``jump_length`` steps and redo them, ``resamples - 1`` times. Only steps
    reaching a new index are yielded (indices stay increasing); the redone ones cost NFE.
    ``final(x) -> Prediction`` (optional) supplies the final denoise at ts[-1]."""
    from ..solvers.base import Step
    n = len(ts) - 1
    i, top = 0, 0
    jumps: dict[int, int] = {}
    while i < n:
        st = one_step(solver, ctx, x, ts, i)
        i += 1
        x = after(st.x, i)
        if i > top:
            top = i
            fin = final(x) if (final is not None and i == n and solver.denoise_final) else None
            yield Step(i, x, st.x0, final=fin)
        if resamples > 1 and i < n and i % jump_length == 0 and jumps.get(i, 0) < resamples - 1:
            jumps[i] = jumps.get(i, 0) + 1
            back = max(i - jump_length, 0)
            x = renoise(ctx.process, x, ts[i], ts[back], ctx.randn_like(x))
            i = back


__all__ = ["InverseGuidance", "build_operator", "one_step", "cached_context", "renoise",
           "final_prediction", "resampling_drive", "per_sample", "col"]

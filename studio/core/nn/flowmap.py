"""A flow-map model: an architecture module that takes (x_t, t, s) and returns x_s.

The flow map Phi(x, t, s) of the probability-flow ODE carries a point at time t along its ODE
trajectory to time s ("The Principles of Diffusion Models", part III). Time pair convention
(:data:`TIME_PAIR`): t is the current time, s the target time, both in the process's own time
units (t_min: data, t_max: noise); sampling jumps with s < t, and Phi(x, t, t) = x exactly.

The module predicts, as a denoiser does, one of eps, x0, v or velocity (the *velocity
parameterization* the model file records), but conditioned on both times: D(x, t, s), through the
same input scaling, noise conditioning and optional EDM preconditioning as
:class:`~studio.core.nn.denoising.DenoisingModel` at time t, plus the architecture's second time
embedding for s. The jump is built from it so that the boundary holds by construction:

    velocity   Phi(x, t, s) = x + (s - t) U(x, t, s)         (Euler form: U is the average
               velocity over [s, t]; MeanFlow, shortcut models, flow-map matching)
    x0/eps/v   Phi(x, t, s) = x + (alpha_s - alpha_t) x0 + (sigma_s - sigma_t) eps
               = alpha_s x0 + sigma_s eps  with (x0, eps) the pair D implies at (x, t)
               (the DDIM transfer; CTM's G = (s/t) x + (1 - s/t) g for x0 under EDM)

In both forms d Phi / ds at s = t is the velocity of the prediction D(x, t, t) read as an ordinary
denoiser (for the DDIM form: alpha_t x0 + sigma_t eps = x for every s, so the s-derivatives of
x0 and eps cancel). So :meth:`FlowMapModel.forward` (x, t) -> D(x, t, t) is the velocity the map
implies, and a flow-map model runs with every ordinary solver as well.
"""
from __future__ import annotations

from torch import Tensor

from ..parameterization import Coeffs, to_x0_eps
from ..processes.base import as_time
from .denoising import DenoisingModel

#: the model-file value of the time pair convention (metadata ``flow_map.time_pair``)
TIME_PAIR = "t->s"
#: velocity parameterizations a flow-map model may use
FLOW_KINDS = ("velocity", "x0", "eps", "v")


class FlowMapModel(DenoisingModel):
    """``jump(x, t, s, labels)`` -> x_s; ``forward(x, t, labels)`` -> D(x, t, t)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.parameterization not in FLOW_KINDS:
            raise ValueError(f"a flow map's velocity parameterization must be one of {FLOW_KINDS}")

    def c_noise(self, t: Tensor) -> Tensor:
        return self.coefficients(t)["c_noise"]

    def prediction(self, x: Tensor, t, s, labels: Tensor | None = None) -> Tensor:
        """D(x, t, s) in the velocity parameterization (x in the module's dtype)."""
        b = x.shape[0]
        t, s = _per_sample(t, b, x), _per_sample(s, b, x)
        c = self.coefficients(t)
        x_in, cn_t = self.inputs(x, c)
        cn_s = self.c_noise(s).to(x.device, x.dtype).expand(b)
        raw = self.net(x_in, cn_t, self.labels_for(labels, b, x.device), cn_s)
        return self.combine(x, raw, c)

    def jump(self, x: Tensor, t, s, labels: Tensor | None = None) -> Tensor:
        """Phi(x, t, s): the point at time s on the ODE trajectory through x at time t."""
        b = x.shape[0]
        t, s = _per_sample(t, b, x), _per_sample(s, b, x)
        pred = self.prediction(x, t, s, labels)
        view = (b,) + (1,) * (x.ndim - 1)
        cast = lambda v: v.to(x.device, x.dtype).reshape(view)  # noqa: E731
        if self.parameterization == "velocity":
            return x + cast(s - t) * pred
        a_t, s_t, da, ds = self.process.coeffs(t)
        a_s, s_s = self.process.alpha(s), self.process.sigma(s)
        x0, eps = to_x0_eps(self.parameterization, pred, x,
                            Coeffs(cast(a_t), cast(s_t), cast(da), cast(ds)))
        return x + cast(a_s - a_t) * x0 + cast(s_s - s_t) * eps

    def average_velocity(self, x: Tensor, t, s, labels: Tensor | None = None) -> Tensor:
        """U(x, t, s) = (Phi(x, t, s) - x) / (s - t), the network output itself (velocity
        parameterization only; U(x, t, t) is the PF-ODE velocity)."""
        if self.parameterization != "velocity":
            raise ValueError("the average velocity is the output of a flow map in the velocity "
                             f"parameterization, this one predicts {self.parameterization}")
        return self.prediction(x, t, s, labels)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.prediction(x, t, t, labels)


def parse_flow_map_metadata(meta: dict, param_kind: str, arch: dict, where: str) -> dict | None:
    """The ``flow_map`` entry: required (and only allowed) with parameterization flow-map."""
    from ..modelfile import FLOW_MAP, ModelFileError, _load_json
    if param_kind != FLOW_MAP:
        if meta.get("flow_map"):
            raise ModelFileError("metadata 'flow_map' is only for parameterization 'flow-map'",
                                 where)
        return None
    fm = _load_json(meta, "flow_map", where)
    if fm.get("time_pair") != TIME_PAIR:
        raise ModelFileError(f"metadata 'flow_map.time_pair' must be {TIME_PAIR!r} (from time t "
                             f"to time s), got {fm.get('time_pair')!r}", where)
    if fm.get("velocity_parameterization") not in FLOW_KINDS:
        raise ModelFileError("metadata 'flow_map.velocity_parameterization' must be one of "
                             f"{', '.join(FLOW_KINDS)}", where)
    if not arch.get("config", {}).get("flow_map", False):
        raise ModelFileError(f"a flow-map model needs architecture {arch['id']!r} with "
                             "config.flow_map true (the second time embedding)", where)
    return {"time_pair": TIME_PAIR, "velocity_parameterization": fm["velocity_parameterization"]}


def _per_sample(t, b: int, like: Tensor) -> Tensor:
    t = as_time(t).to(like.device)
    return t.expand(b) if t.ndim == 0 else t

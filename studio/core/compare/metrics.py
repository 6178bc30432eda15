"""Comparison metrics: registered plugins, like solvers.

A metric is a dataclass registered in :data:`METRICS` under a stable id; its fields are its
parameters (declared with :func:`studio.core.params.param`). It says what it needs (``needs``: the
reference endpoint, data samples, labels, a judge), whether it has a sample-vs-sample floor, and
computes one number per cell from a :class:`MetricInput`::

    @METRICS.register("my-metric")
    @dataclass
    class MyMetric(Metric):
        title = "What it measures"
        needs = ("data",)
        def compute(self, inp):
            return float(...)

The floor of a metric with ``has_floor`` is the same metric computed on a fresh draw of data
samples of the batch size in place of a cell's samples: the value a perfect sampler would get.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import torch
from torch import Tensor

from ..errors import ParamError
from ..params import build, param, to_params
from ..registry import Registry
from . import distances

METRICS: Registry = Registry("metric", ("studio.core.compare.metrics", "studio.core.compare.judges"))


@dataclass
class MetricInput:
    """What a metric sees for one cell (tensors on the CPU in float64)."""

    samples: Tensor
    #: the reference endpoint from the same noise (None where no reference was computed)
    reference: Optional[Tensor] = None
    #: data samples [N, *data_shape] (None where there are none)
    data: Optional[Tensor] = None
    #: class labels the samples were drawn for (None: unconditional)
    labels: Optional[Tensor] = None
    nfe: int = 0
    seconds: float = 0.0
    #: per-comparison cache shared by every cell (kernel bandwidths and terms, features)
    shared: dict = field(default_factory=dict)
    seed: int = 0

    @property
    def batch(self) -> int:
        return int(self.samples.shape[0])


@dataclass
class Metric:
    """Base class of comparison metrics."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    unit: ClassVar[str] = ""
    #: what compute() reads: any of "reference", "data", "labels", "judge"
    needs: ClassVar[tuple[str, ...]] = ()
    has_floor: ClassVar[bool] = False
    lower_is_better: ClassVar[bool] = True
    #: a quality measure for the error-vs-NFE plot (False for costs such as NFE and time)
    plot: ClassVar[bool] = True
    #: part of a comparison when no metric list is given
    default: ClassVar[bool] = True

    def unavailable(self, info: dict) -> Optional[str]:
        """Why this metric cannot be computed for a comparison (None if it can).

        ``info`` holds ``dim`` (flattened data dimension), ``data_shape``, ``data`` (bool: data
        samples available), ``reference`` (bool), ``labels`` (bool)."""
        if "data" in self.needs and not info.get("data"):
            return "no data samples (give data, or use an analytic network that can sample)"
        if "reference" in self.needs and not info.get("reference"):
            return "no reference endpoint"
        if "labels" in self.needs and not info.get("labels"):
            return "unconditional run (no labels)"
        return None

    def compute(self, inp: MetricInput) -> float:
        raise NotImplementedError

    @classmethod
    def info(cls) -> dict:
        return {"id": cls.id, "title": cls.title, "unit": cls.unit, "needs": list(cls.needs),
                "has_floor": cls.has_floor, "lower_is_better": cls.lower_is_better,
                "plot": cls.plot, "default": cls.default}


def build_metric(mid: str, params: dict | None = None, where: str = "metrics") -> Metric:
    cls = METRICS.get(mid, where)
    return build(cls, params or {}, f"{where}.{mid}")


def metric_params(m: Metric) -> dict:
    return to_params(m)


# -- errors against the reference -------------------------------------------------------------------
@METRICS.register("rmse")
@dataclass
class RMSE(Metric):
    """sqrt(mean over samples and components of (x - x_ref)^2): the error of the solve, the
    reference being the exact probability-flow endpoint from the same noise."""

    title = "RMSE to the reference endpoint"
    needs = ("reference",)

    def compute(self, inp):
        d = inp.samples.to(torch.float64) - inp.reference.to(torch.float64)
        return float(d.pow(2).mean().sqrt())


@METRICS.register("max-error")
@dataclass
class MaxError(Metric):
    """The largest per-sample Euclidean distance to the reference endpoint."""

    title = "Worst-sample error to the reference"
    needs = ("reference",)
    default = False

    def compute(self, inp):
        d = (inp.samples.to(torch.float64) - inp.reference.to(torch.float64))
        return float(d.reshape(len(d), -1).norm(dim=1).max())


# -- distribution distances to data ---------------------------------------------------------------
@dataclass
class _LowD(Metric):
    needs = ("data",)
    has_floor = True
    max_dim: int = param(16, "largest data dimension it is computed for (low-D data only)", min=1)

    def unavailable(self, info):
        why = super().unavailable(info)
        if why is None and info.get("dim", 0) > self.max_dim:
            why = f"data dimension {info['dim']} above max_dim {self.max_dim}"
        return why


@METRICS.register("swd")
@dataclass
class SlicedWasserstein(_LowD):
    """Sliced 2-Wasserstein distance to the data samples, with the same random directions for
    every cell (and the floor)."""

    title = "Sliced Wasserstein-2 to data"
    projections: int = param(256, "random projection directions", min=1)

    def compute(self, inp):
        key = ("swd", self.projections, inp.seed, id(inp.data))
        if key not in inp.shared:  # the data's sorted projections, once per point (the data
            # are kept with them, so their id is not reused while the entry lives)
            inp.shared[key] = (inp.data, distances.sorted_projections(inp.data, self.projections,
                                                                      inp.seed))
        if inp.samples[0].numel() != inp.data[0].numel():
            raise ValueError(f"sliced Wasserstein: samples of {inp.samples[0].numel()} values "
                             f"against data of {inp.data[0].numel()}")
        return distances.sliced_wasserstein(inp.samples, None, self.projections, inp.seed,
                                            y_projections=inp.shared[key][1])


@METRICS.register("mmd")
@dataclass
class MMD(_LowD):
    """Maximum mean discrepancy to the data samples: Gaussian kernels at 0.5, 1 and 2 times the
    data's median pairwise distance (times ``bandwidth``); sqrt of the biased estimate."""

    title = "MMD to data (multi-scale RBF)"
    bandwidth: float = param(1.0, "multiplier of the median-distance bandwidth", min=1e-6)

    def compute(self, inp):
        key = ("mmd", self.bandwidth, id(inp.data))
        if key not in inp.shared:
            h = self.bandwidth * distances.median_bandwidth(inp.data, seed=inp.seed)
            bws = (0.5 * h, h, 2.0 * h)
            inp.shared[key] = (bws, distances.kernel_mean(inp.data, inp.data, bws))
        bws, yy = inp.shared[key]
        return distances.mmd(inp.samples, inp.data, bws, yy=yy)


# -- costs --------------------------------------------------------------------------------------------
@METRICS.register("nfe")
@dataclass
class NFE(Metric):
    """Network evaluations the run used (the final denoise included)."""

    title = "Network evaluations"
    plot = False

    def compute(self, inp):
        return float(inp.nfe)


@METRICS.register("ms-per-sample")
@dataclass
class MsPerSample(Metric):
    """Wall time of the run divided by the batch size, in milliseconds."""

    title = "Wall time per sample"
    unit = "ms"
    plot = False

    def compute(self, inp):
        return 1000.0 * inp.seconds / max(inp.batch, 1)


def resolve_metrics(entries: list | None) -> list[Metric]:
    """Metric instances from ids, ``{"id": ..., "params": {...}}`` dicts or instances (None: the
    defaults). Raises ParamError naming the entry on an unknown id or parameter."""
    if entries is None:
        return [cls() for _, cls in METRICS.items() if cls.default]
    out = []
    for i, e in enumerate(entries):
        where = f"metrics[{i}]"
        if isinstance(e, Metric):
            out.append(e)
        elif isinstance(e, str):
            out.append(build_metric(e, {}, where))
        elif isinstance(e, dict) and isinstance(e.get("id"), str):
            out.append(build_metric(e["id"], e.get("params") or {}, where))
        else:
            raise ParamError("a metric is an id or an object {\"id\": ..., \"params\": {...}}", where)
    ids = [m.id for m in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ParamError(f"metric {sorted(dup)[0]!r} listed twice", "metrics")
    return out


def parse_metric(text: str, where: str = "--metrics") -> Any:
    """``swd`` or ``classifier-accuracy:judge=digits-mlp`` (command-line form) -> an id, or an
    ``{"id", "params"}`` entry (values read as JSON where they parse, else strings); checked
    against the metric's parameters."""
    from .spec import _parse_item

    mid, params = _parse_item(text, where)
    build_metric(mid, params, where)
    return {"id": mid, "params": params} if params else mid


def metric_entry(m: Metric) -> dict[str, Any]:
    return {"id": m.id, "params": to_params(m)}


__all__ = ["METRICS", "Metric", "MetricInput", "resolve_metrics", "build_metric", "metric_entry",
           "parse_metric"]

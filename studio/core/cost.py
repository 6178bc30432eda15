"""Cost estimates before work starts: a run, a comparison, a likelihood or a training.

Each estimate adds up the memory a job will hold at its peak, from figures known before anything
is allocated (``B`` the batch, ``D`` the values per sample, ``s`` the bytes per value):

* the state of the sampler: ``K B D s`` with ``K = 8`` working copies (x, the prediction, the
  multistep history of the highest-order solvers, the noise);
* recorded steps (``--trajectory``): ``2 (N + 1) B D s`` for x_t and x0, doubled by the final
  stacking;
* the time grid: ``4 (N + 1) 8`` bytes;
* the network, where known: every ``Linear`` layer's outputs (and ``Conv`` layer's outputs at the
  data's resolution) per sample, four times over for the forward pass (training: the parameters
  with their gradients, AdamW moments and EMA copy, ``5 P 4`` bytes, found by building the network
  on torch's ``meta`` device, which allocates nothing); tensors the network holds [N, ...] (an
  empirical data set) cost ``2 B N s`` for the distance blocks.

The total is compared with the device's free memory (``MemAvailable`` on Linux, the CUDA
allocator's free memory on a GPU); above :data:`FRACTION` of it the job is refused with the
figures and the largest batch that would fit.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import torch

from .errors import StudioError

#: the share of the free memory a job may plan to use
FRACTION = 0.8
#: working copies of the state a sampler holds
STATE_COPIES = 8


class ResourceError(StudioError):
    """A job that would not fit the memory (or the limits) of the machine; names the figures."""


@dataclass
class Estimate:
    """The planned peak memory of a job, by part, and the batch it scales with."""

    what: str
    batch: int
    parts: dict[str, int] = field(default_factory=dict)
    #: bytes that do not grow with the batch (parameters, time grid), and which parts they are
    fixed: int = 0
    fixed_parts: tuple = ()
    evaluations: int = 0

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    def describe(self) -> str:
        parts = ", ".join(f"{k} {human(v)}" for k, v in self.parts.items() if v)
        return f"{self.what} needs about {human(self.total)} ({parts})"

    def check(self, device: torch.device | str = "cpu", where: str = "run",
              free: int | None = None) -> "Estimate":
        """Refuse (:class:`ResourceError`) if the estimate exceeds the free memory's share."""
        free = free_memory(device) if free is None else free
        if free is None or self.total <= FRACTION * free:
            return self
        per = max(self.total - self.fixed, 1) / max(self.batch, 1)
        fit = int((FRACTION * free - self.fixed) // per)
        biggest = max(self.parts, key=self.parts.get)
        if fit >= 1 and biggest not in self.fixed_parts:
            hint = f"use a batch of at most {fit}"
        else:
            hint = f"reduce the {biggest} ({human(self.parts[biggest])})"
        raise ResourceError(f"{self.describe()}, but only {human(free)} is free on "
                            f"{torch.device(device).type}; {hint}", where)


def human(n: float) -> str:
    n = float(n)
    for unit, k in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{int(n)} bytes"


def free_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes free on ``device`` (None if unknown)."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:
            return None
    override = os.environ.get("STUDIO_FREE_MEMORY")  # tests and constrained deployments
    if override:
        return int(float(override))
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def module_cost(module: torch.nn.Module, data_shape: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, activation values per sample) of a torch module (works on ``meta``)."""
    params = sum(p.numel() for p in module.parameters())
    spatial = math.prod(data_shape[1:]) if len(data_shape) > 1 else 1
    act = 0
    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            act += m.out_features
        elif isinstance(m, torch.nn.modules.conv._ConvNd):
            act += m.out_channels * spatial
    return params, act


def _network_per_sample(network, itemsize: int) -> int:
    """Bytes per sample of one network evaluation, where the network's make-up is known."""
    total = 0
    shape = tuple(getattr(network, "data_shape", ()) or ())
    for value in list(vars(network).values()):
        mod = getattr(value, "model", value)
        if isinstance(mod, torch.nn.Module):
            total += 4 * module_cost(mod, shape)[1] * itemsize
        elif hasattr(value, "shape") and getattr(value, "ndim", 0) >= 2:
            n = int(value.shape[0])
            chunk = getattr(network, "chunk", None)
            n = min(n, chunk) if isinstance(chunk, int) and chunk > 0 else n
            total += 2 * n * itemsize  # distances to the stored points, one block at a time
    return total


def sampling_estimate(built, record: bool = False, steps: int | None = None,
                      what: str = "this run") -> Estimate:
    """The peak memory of running every branch of ``built`` (a :class:`Built` pipeline)."""
    b = built.settings.batch
    d = math.prod(tuple(built.network.data_shape)) or 1
    s = torch.empty((), dtype=built.settings.torch_dtype()).element_size()
    n = steps if steps is not None else max(sv.num_steps() for sv in built.solvers.values())
    est = Estimate(what, b)
    est.parts["state"] = STATE_COPIES * b * d * max(s, 8)  # the prior noise is drawn in float64
    est.parts["network"] = b * _network_per_sample(built.network, s)
    if record:
        est.parts["recorded steps"] = 4 * (n + 1) * b * d * s
    est.parts["time grid"] = 4 * (n + 1) * 8
    est.fixed, est.fixed_parts = est.parts["time grid"], ("time grid",)
    est.evaluations = sum(sv.nfe_for_steps(sv.num_steps()) for sv in built.solvers.values()) * b
    return est


def check_run(built, record: bool = False, where: str = "run") -> Estimate:
    """Estimate and check a run of ``built`` on its device before it starts."""
    return sampling_estimate(built, record).check(built.device(), where)


def training_estimate(arch, data_shape: tuple[int, ...], num_classes: int, batch: int,
                      n_data: int, what: str = "this training") -> Estimate:
    """The peak memory of training ``arch`` (built on the meta device: nothing is allocated)."""
    with torch.device("meta"):
        probe = arch.module(tuple(data_shape), num_classes)
    params, act = module_cost(probe, tuple(data_shape))
    d = math.prod(data_shape) or 1
    est = Estimate(what, batch)
    est.parts["parameters, gradients, AdamW and EMA"] = 5 * params * 4
    est.parts["activations"] = 3 * batch * act * 4
    est.parts["batch"] = 4 * batch * d * 4
    est.parts["data"] = 2 * n_data * d * 4
    est.fixed_parts = ("parameters, gradients, AdamW and EMA", "data")
    est.fixed = sum(est.parts[k] for k in est.fixed_parts)
    return est


def likelihood_estimate(built, batch: int, n: int, what: str = "this likelihood") -> Estimate:
    """The peak memory of the PF-ODE likelihood over ``n`` samples in blocks of ``batch``."""
    b = min(batch, n)
    d = math.prod(tuple(built.network.data_shape)) or 1
    s = torch.empty((), dtype=built.settings.torch_dtype()).element_size()
    est = Estimate(what, b)
    est.parts["data"] = 2 * n * d * 8
    # dopri5 stages and the autograd graph of the divergence: ~ (7 stages + D for exact) copies
    est.parts["integration"] = (16 + min(d, 16)) * b * d * s
    est.parts["network"] = 3 * b * _network_per_sample(built.network, s)
    est.fixed, est.fixed_parts = est.parts["data"], ("data",)
    return est


__all__ = ["Estimate", "ResourceError", "FRACTION", "free_memory", "human", "module_cost",
           "sampling_estimate", "check_run", "training_estimate", "likelihood_estimate"]

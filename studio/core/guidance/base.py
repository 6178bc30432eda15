"""Guidance: a transformation of the network's prediction between network and solver.

A guidance node receives a function that evaluates the (unguided) network and returns the guided
prediction. Classifier-free guidance calls it on a doubled batch; posterior-sampling methods
differentiate through it. Kinds register in :data:`studio.core.registry.GUIDANCE`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator

from torch import Tensor

from ..parameterization import Coeffs

#: net(x, t, labels) -> prediction in the network's parameterization
NetCall = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


@dataclass
class Guidance:
    id: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def guide(self, net: NetCall, kind: str, x: Tensor, t: Tensor, coeffs: Coeffs,
              labels: Tensor | None) -> tuple[str, Tensor]:
        """Return (parameterization, guided prediction) at (x, t)."""
        raise NotImplementedError

    # -- optional hooks (the defaults leave the sampling loop alone) -----------------------------
    def bind(self, network, process) -> None:
        """Called by ``Pipeline.build`` once the network and process are known: validate shapes
        and the like. Raise :class:`studio.core.errors.StudioError` naming the field."""

    def start_state(self, ctx, x: Tensor, ts: Tensor) -> Tensor:
        """The state the branch starts from at ``ts[0]``, given the run's prior sample (or
        ``run.start`` state) ``x``; :meth:`drive` then receives it. Default: ``x`` itself."""
        return x

    def branch_process(self, process):
        """The process whose times this branch's steps report (sigma and log-SNR in the views):
        the pipeline's, unless the kind runs its solver on a process of its own (``ir-sde``)."""
        return process

    def drive(self, solver, ctx, x: Tensor, ts: Tensor) -> Iterator:
        """The step generator the runner iterates (``Solver.sample``'s contract: yield one
        :class:`studio.core.solvers.base.Step` per step, x then at ``ts[step.i]``). The default is
        the solver itself; methods that change x_t between steps (replacement, resampling jumps,
        DPS's gradient step) or that replace the sampler (RED-diff) override it."""
        return solver.sample(ctx, x, ts)

"""Guidance: a transformation of the network's prediction between network and solver.

A guidance node receives a function that evaluates the (unguided) network and returns the guided
prediction. Classifier-free guidance calls it on a doubled batch; posterior-sampling methods
differentiate through it. Kinds register in :data:`studio.core.registry.GUIDANCE`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

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

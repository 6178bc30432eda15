"""The architecture registry and base class."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..registry import Registry

#: architecture id -> class; modules listed here register on first use
ARCHITECTURES: Registry = Registry("architecture", ("studio.core.nn.mlp", "studio.core.nn.unet",
                                                       "studio.core.nn.classifier"))


@dataclass
class Architecture:
    """Base class: a network family; its dataclass fields are its configuration."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: what the module predicts: "field" (a denoiser's target, shaped like x) or "logits"
    output: ClassVar[str] = "field"

    def check(self, data_shape: tuple[int, ...], num_classes: int) -> None:
        """Raise :class:`studio.core.errors.ParamError` if the data shape does not fit."""

    def module(self, data_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        """A freshly initialised module: ``forward(x, c_noise [B], labels [B] | None) -> like x``
        (a classifier architecture, ``output = "logits"``, returns [B, num_classes] instead).

        ``labels`` hold class ids in ``0..num_classes``; ``num_classes`` itself is the null class
        (unconditional), so a conditional module has ``num_classes + 1`` class embeddings.
        """
        raise NotImplementedError

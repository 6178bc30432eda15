"""Building modules on the meta device for their tensor shapes (the model library checks a file's
tensors against its architecture this way: nothing is allocated)."""
from __future__ import annotations

from contextlib import contextmanager

import torch


class SkipMetaInit(torch.overrides.TorchFunctionMode):
    """Skips the weight initialisations (``torch.nn.init.*``) of meta tensors: building a module
    on the meta device for its tensor shapes needs none, and on meta tensors they go through
    torch's reference implementations, whose first use imports torch._dynamo (seconds of
    `studio models list`). A torch function mode is local to the thread that enters it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            t = args[0] if args else kwargs.get("tensor")
            if isinstance(t, torch.Tensor) and t.is_meta:
                return t
        return func(*args, **kwargs)


@contextmanager
def on_meta():
    """Modules made in this block are on the meta device, without their weight initialisations."""
    with torch.device("meta"), SkipMetaInit():
        yield

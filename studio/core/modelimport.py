"""`studio models import`: the one place a PyTorch checkpoint is read, tensors only."""
from __future__ import annotations

import torch

from .untrusted import LIMITS, check_regular
from .modelfile import ModelFileError, ModelSpec, _expected_tensors, save_model


def import_checkpoint(src: str, card: dict, out: str, key: str | None = None,
                      strip_prefix: str = "") -> ModelSpec:
    """Convert a PyTorch checkpoint into a model file, reading tensors only.

    ``torch.load(weights_only=True)`` refuses anything but tensors and plain containers, so no
    code from the file runs. ``card`` is the model's metadata (see :meth:`ModelSpec.from_card`).
    """
    spec = ModelSpec.from_card(card, "--meta")
    if check_regular(src, src, ModelFileError, LIMITS["model_bytes"]) == 0:
        raise ModelFileError("the checkpoint is an empty file", src)
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError("file not found", src) from None
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for bad files
        raise ModelFileError(f"cannot read as a weights-only PyTorch checkpoint: "
                             f"{str(exc).splitlines()[0]}", src) from None
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            have = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
            raise ModelFileError(f"no entry {key!r} in the checkpoint (has: {have})", src)
        obj = obj[key]
    elif isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for k in ("ema", "state_dict", "model"):
            if isinstance(obj.get(k), dict):
                obj = obj[k]
                break
    if not (isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise ModelFileError("no state dict of tensors found; name its entry with --key", src)
    state = {(k[len(strip_prefix):] if strip_prefix and k.startswith(strip_prefix) else k): v
             for k, v in obj.items()}
    expected = _expected_tensors(spec, src)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        raise ModelFileError(f"tensors do not match architecture {spec.architecture!r}: "
                             f"{len(missing)} missing (e.g. {missing[:1]}), {len(extra)} unexpected "
                             f"(e.g. {extra[:1]})", src)
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise ModelFileError(f"tensor {k!r} has shape {list(state[k].shape)}, architecture "
                                 f"needs {list(shape)}", src)
    save_model(out, state, spec)
    return spec

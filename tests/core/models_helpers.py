"""Tiny model files for the model / training / cfg tests (random but non-trivial weights)."""
from __future__ import annotations

import contextlib

import torch

from studio.core.modelfile import ModelSpec, save_model


@contextlib.contextmanager
def one_thread():
    """Tiny models run fastest on one thread (and the test machine's cores are shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def tiny_spec(arch: str = "mlp", num_classes: int = 0, parameterization: str = "eps",
              process: str = "vp-linear", precond: str = "none", class_dropout: float = 0.1,
              shape=None, **arch_config) -> ModelSpec:
    if arch == "mlp":
        config = {"width": 16, "depth": 1, "emb_dim": 8}
        shape = shape or [2]
        extra = dict(data_kind="points", shift=[0.5, -0.25], scale=2.0)
    else:
        config = {"channels": 8, "mults": [1, 2], "groups": 4, "emb_dim": 16, "head_dim": 8}
        shape = shape or [1, 8, 8]
        extra = dict(data_kind="image", data_range=[0.0, 1.0], shift=0.5, scale=0.5)
    config.update(arch_config)
    return ModelSpec(
        architecture=arch, arch_config=config, parameterization=parameterization,
        process={"kind": process, "params": {}}, data_shape=list(shape), precond=precond,
        sigma_data=0.7, time_input="t", num_classes=num_classes,
        class_dropout=class_dropout if num_classes else 0.0,
        class_names=[f"c{i}" for i in range(num_classes)] if num_classes else None,
        training={"steps": 0}, name="tiny", description="a tiny test model", **extra)


def tiny_state(spec: ModelSpec, seed: int = 0) -> dict:
    """The spec's module with every parameter perturbed (so zero-initialised outputs are not 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build_model()
    state = model.net.state_dict()
    return {k: v + 0.2 * torch.randn(v.shape, generator=g) for k, v in state.items()}


def tiny_model_file(path, seed: int = 0, **kw) -> str:
    spec = tiny_spec(**kw)
    save_model(str(path), tiny_state(spec, seed), spec)
    return str(path)

"""Warm start of a flow-map student from its teacher's weights (``objective.init_from_teacher``).

Consistency distillation (Song et al. 2023, section 6: "we initialize the consistency model with
the pre-trained diffusion model") and CTM (Kim, Lai et al. 2023) start the student from the
teacher. A flow-map network here is the teacher's architecture plus a second time embedding
(``Conditioning.fourier_s`` / ``mlp_s``: the gap c_noise(t) - c_noise(s)). Copying every teacher
weight and zeroing the last layer of that embedding makes the student's prediction
D(x, t, s) = D_teacher(x, t) for every s at step 0, so its jump

    Phi_0(x, t, s) = alpha_s x0 + sigma_s eps,   (x0, eps) the teacher's at (x, t)

is the teacher's one-step DDIM transfer (for the x0, eps and v parameterizations), and training
only has to learn the correction along s. For that identity the student must predict what the
teacher predicts (``flow_parameterization`` = the teacher's parameterization), with the same
preconditioning, process and architecture hyperparameters; sigma_data and the time input are
taken from the teacher's file.
"""
from __future__ import annotations

import torch

from ..errors import StudioError

#: parameter name prefixes that a flow-map network has and its teacher has not
SECOND_TIME = ("cond.fourier_s.", "cond.mlp_s.")


def check_warm_start(cfg, teacher, process, where: str):
    """The teacher's file spec (a :class:`~studio.core.modelfile.ModelSpec`), checked against
    the student's configuration."""
    place = f"{where}: objective.init_from_teacher"
    spec = getattr(teacher.network, "spec", None) if teacher is not None else None
    if spec is None:
        raise StudioError("init_from_teacher needs a trained teacher (a model file or a "
                          "pipeline whose network is a 'file' network)", place)
    if spec.is_flow_map:
        raise StudioError("init_from_teacher: the teacher is itself a flow map; start from a "
                          "denoiser", place)
    obj = cfg.objective
    arch = cfg.architecture
    mine = {k: v for k, v in arch.get("params", {}).items() if k != "flow_map"}
    theirs = {k: v for k, v in spec.arch_config.items() if k != "flow_map"}
    if arch["id"] != spec.architecture:
        raise StudioError(f"init_from_teacher: architecture {arch['id']!r} is not the teacher's "
                          f"{spec.architecture!r}", f"{where}: architecture.id")
    diff = sorted(k for k in set(mine) | set(theirs)
                  if k in mine and mine[k] != theirs.get(k))
    if diff:
        raise StudioError(f"init_from_teacher: architecture.params {', '.join(diff)} differ from "
                          f"the teacher's ({', '.join(f'{k}={theirs.get(k)!r}' for k in diff)})",
                          f"{where}: architecture.params")
    if obj.flow_parameterization != spec.parameterization:
        raise StudioError(f"init_from_teacher: the teacher predicts {spec.parameterization!r}; "
                          f"set flow_parameterization to it (it is "
                          f"{obj.flow_parameterization!r})", f"{where}: objective."
                          "flow_parameterization")
    if obj.precond != spec.precond:
        raise StudioError(f"init_from_teacher: the teacher's preconditioning is "
                          f"{spec.precond!r}, the student's {obj.precond!r}",
                          f"{where}: objective.precond")
    if process.id != spec.process["kind"]:
        raise StudioError(f"init_from_teacher: the teacher was trained on process "
                          f"{spec.process['kind']!r}, the student's is {process.id!r}",
                          f"{where}: process.kind")
    return spec


def load_teacher_weights(net: torch.nn.Module, teacher, where: str) -> None:
    """Copy the teacher's weights into ``net`` (a flow-map network) and zero the last layer of
    its second time embedding."""
    place = f"{where}: objective.init_from_teacher"
    src = teacher.network.model.net.state_dict()
    dst = net.state_dict()
    missing = [k for k in src if k not in dst]
    wrong = [k for k in src if k in dst and dst[k].shape != src[k].shape]
    extra = [k for k in dst if k not in src and not k.startswith(SECOND_TIME)]
    if missing or wrong or extra:
        names = (missing + wrong + extra)[:4]
        raise StudioError("init_from_teacher: the teacher's weights do not fit the student "
                          f"network ({', '.join(names)})", place)
    with torch.no_grad():
        for k, v in src.items():       # the state dict's tensors are the network's own
            dst[k].copy_(v.to(dst[k].dtype))
        mlp_s = getattr(getattr(net, "cond", None), "mlp_s", None)
        if mlp_s is None:
            raise StudioError("init_from_teacher: the student network has no second time "
                              "embedding (architecture.params.flow_map)", place)
        last = mlp_s[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)

"""``objective.init_from_teacher``: a flow-map student starts from its teacher's weights, so its
first jump is the teacher's DDIM transfer for every target time; mismatches are named errors."""
from __future__ import annotations

import pytest
import torch

from studio.core.errors import StudioError
from studio.core.parameterization import Coeffs, to_x0_eps
from studio.core.training import TrainConfig, Trainer

TEACHER = "assets:moons.safetensors"   # mlp width 96, depth 3, emb 64; eps, EDM, vp-linear


def _config(**over) -> TrainConfig:
    arch = {"width": 96, "depth": 3, "emb_dim": 64, "flow_map": True}
    arch.update(over.pop("arch", {}))
    obj = {"target": "consistency-distillation", "teacher": TEACHER, "init_from_teacher": True,
           "flow_parameterization": "eps", "precond": "edm", "cm_steps": 4}
    obj.update(over.pop("objective", {}))
    return TrainConfig.from_dict({
        "format": "studio.train/1", "seed": 0, "data": {"kind": "moons", "params": {"n": 256}},
        "architecture": {"id": "mlp", "params": arch},
        "process": {"kind": over.pop("process", "vp-linear")}, "objective": obj,
        "optim": {"steps": 2, "batch": 32, "lr": 1e-3, "warmup": 1, "ema": 0.9},
        "preview": {"every": 0}, "log_every": 1000})


def test_the_student_starts_as_the_teachers_ddim_jump():
    tr = Trainer(_config())
    teacher = tr.teacher.network
    assert tr.sigma_data == teacher.spec.sigma_data and tr.time_input == teacher.spec.time_input
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.9 + 0.05
    s = t * torch.rand(64, generator=g, dtype=torch.float64)
    with torch.no_grad():
        want = teacher.model(x, t.float())                  # the teacher's eps at (x, t)
        for model in (tr.model, tr.ema):
            torch.testing.assert_close(model.prediction(x, t, s), want, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(model.prediction(x, t, t), want, rtol=1e-5, atol=1e-5)
        p = tr.process
        view = lambda v: v.float().reshape(-1, 1)  # noqa: E731
        c = Coeffs(*(view(v) for v in p.coeffs(t)))
        x0, eps = to_x0_eps("eps", want, x, c)
        ddim = view(p.alpha(s)) * x0 + view(p.sigma(s)) * eps
        torch.testing.assert_close(tr.model.jump(x, t, s), ddim, rtol=1e-4, atol=1e-4)
    for _ in tr.run():
        pass
    spec = tr.spec()
    assert spec.training["init"] == "teacher" and spec.training["teacher"] == TEACHER
    # training moved the map off the teacher (the second time embedding is trained)
    with torch.no_grad():
        assert not torch.allclose(tr.model.prediction(x, t, s), want, atol=1e-6)


@pytest.mark.parametrize("over, field", [
    ({"arch": {"width": 64}}, "architecture.params"),
    ({"objective": {"flow_parameterization": "v"}}, "flow_parameterization"),
    ({"objective": {"precond": "none"}}, "objective.precond"),
    ({"process": "vp-cosine"}, "process.kind"),
    ({"objective": {"teacher": None, "target": "ctm"}}, "init_from_teacher"),
])
def test_mismatches_are_named(over, field):
    with pytest.raises(StudioError) as info:
        Trainer(_config(**over))
    assert field in str(info.value)


def test_the_bundled_recipe_and_the_app_preset_warm_start_from_digits():
    """scripts/bundled/digits-flow-map.json builds (the teacher's architecture, parameterization
    and process match), and the bundled model records its teacher and warm start."""
    import os

    from studio.core.modelfile import read_info
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = TrainConfig.load(os.path.join(root, "scripts", "bundled", "digits-flow-map.json"))
    tr = Trainer(cfg)
    assert tr.teacher.num_classes == 10 and tr.spec().training["init"] == "teacher"
    spec = read_info(os.path.join(root, "studio", "assets", "models",
                                  "digits-flow-map.safetensors")).spec
    assert spec.is_flow_map and spec.num_classes == 10 and spec.preview_png
    assert spec.training["teacher"] == "assets:digits.safetensors"
    assert spec.training["init"] == "teacher" and spec.training["objective"] == "ctm"
    assert spec.flow_map == {"time_pair": "t->s", "velocity_parameterization": "v"}

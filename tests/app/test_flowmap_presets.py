"""The Training panel's few-step digits preset warm-starts from the bundled digits model."""
from __future__ import annotations

from studio.app.training.presets import PRESETS
from studio.core.training import TrainConfig, Trainer


def test_digits_flow_map_preset_builds_its_warm_started_student():
    name = next(k for k in PRESETS if k.startswith("Digits 8×8 · few-step"))
    tr = Trainer(TrainConfig.from_dict(dict(PRESETS[name], format="studio.train/1")))
    assert tr.is_flow_map and tr.teacher is not None
    assert tr.spec().training["init"] == "teacher"

"""Editing by inversion on an exact prior: invert points of one mixture component, regenerate them
with another label (exact classifier guidance) and unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.edit import invert_and_regenerate
from studio.core.errors import PipelineError
from studio.core.params import build
from studio.core.registry import NETWORKS

MEANS = [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]]
VARS = [[0.05, 0.05]] * 4


def _doc(solver=("dopri5", {"rtol": 1e-8, "atol": 1e-8})):
    return {"format": "studio.pipeline/1",
            "nodes": {"p": {"type": "process", "kind": "vp-linear", "params": {}},
                      "n": {"type": "network", "kind": "gmm", "params": {"means": MEANS, "vars": VARS}},
                      "s": {"type": "solver", "kind": solver[0], "params": solver[1]}},
            "links": [["p", "n"], ["n", "s"]], "run": {"batch": 4, "seed": 0}}


def test_points_move_to_the_new_label_and_the_reconstruction_is_exact():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    pts = np.array(MEANS[0]) + rng.normal(size=(40, 2)) * np.sqrt(0.05)
    res = invert_and_regenerate(_doc(), pts, {"kind": "classifier", "params": {"scale": 1.0}},
                                labels=1)
    assert res.rmse < 1e-4
    net = build(NETWORKS.get("gmm"), {"means": MEANS, "vars": VARS}, "g")
    comp = ((torch.as_tensor(res.edited)[:, None] - torch.as_tensor(MEANS)[None]) ** 2).sum(-1)
    assert float((comp.argmin(1) == 1).double().mean()) > 0.9
    assert res.z.shape == (40, 2) and res.nfe_invert > 0 and res.nfe_regenerate > 0
    # the edit keeps each point's place within its component (offsets correlate)
    off_src = pts - np.array(MEANS[0])
    off_new = res.edited - np.array(MEANS[1])
    assert np.corrcoef(off_src[:, 0], off_new[:, 0])[0, 1] > 0.5
    assert net is not None


def test_a_source_pipeline_with_guidance_is_refused():
    doc = _doc()
    doc["nodes"]["g"] = {"type": "guidance", "kind": "classifier", "params": {}}
    doc["links"] = [["p", "n"], ["n", "g"], ["g", "s"]]
    with pytest.raises(PipelineError, match="already has a guidance"):
        invert_and_regenerate(doc, np.zeros((2, 2)), {"kind": "classifier", "params": {}}, 1)


def test_sdedit_keeps_points_at_small_t_and_follows_the_label_at_large_t():
    from studio.core.edit import sdedit
    doc = _doc(("ddim", {"steps": 50, "eta": 1.0, "schedule": "uniform"}))
    pts = np.tile(MEANS[0], (30, 1))
    near = lambda xs: ((xs[:, None] - np.array(MEANS)[None]) ** 2).sum(-1).argmin(1)  # noqa: E731
    assert (near(sdedit(doc, pts, 0.2)) == 0).mean() > 0.9
    moved = sdedit(doc, pts, 0.9, {"kind": "classifier", "params": {"scale": 1.0}}, 2)
    assert (near(moved) == 2).mean() > 0.9

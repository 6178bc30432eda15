"""The model catalog (studio/core/catalog.py) and the default pipeline (no Qt needed)."""
from __future__ import annotations

import numpy as np
import torch

from studio.app.backdrop import make_backdrop
from studio.app.defaults import default_pipeline
from studio.core import catalog
from studio.core.pipeline import Pipeline


def test_builtin_models_build_and_have_cards():
    entries = catalog.builtin()
    assert catalog.DEFAULT_MODEL in [e.name for e in entries]
    assert len({e.name for e in entries}) == len(entries)
    dims = set()
    for e in entries:
        net = e.build()
        card = e.card()
        assert card["kind"] == "gmm" and card["description"] == e.description
        dims.add(card["data_shape"][0])
        x = net.sample(64, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(net.log_prob(x)).all()
    assert 2 in dims and max(dims) >= 32


def test_backdrops_2d_and_pca():
    two = make_backdrop(catalog.get("eight-gaussians").build())
    assert two.mode == "2d" and two.density.shape == (160, 160) and two.density.max() == 1.0
    high = make_backdrop(catalog.get("ring-plane-32d").build())
    assert high.mode == "pca" and high.axes.shape == (32, 2)
    # the ring lies on a plane: two components explain most of the variance (the other 30
    # dimensions hold only the small isotropic noise, 0.15^2 each)
    assert sum(high.explained) > 0.8 and min(high.explained) > 0.35
    x = np.random.default_rng(0).normal(size=(5, 32))
    assert high.project(x).shape == (5, 2)


def test_default_pipeline_runs_and_lands_on_the_data():
    built = Pipeline.from_dict(default_pipeline()).build()
    res = built.run()["dpm-solver++-2m"]
    net = built.network
    # samples sit on the mixture: their log-density is close to that of exact samples
    exact = net.sample(2000, generator=torch.Generator().manual_seed(1))
    assert float(net.log_prob(res.samples).mean()) > float(net.log_prob(exact).mean()) - 0.3


def test_unknown_model_names_the_known_ones():
    import pytest

    from studio.core.errors import StudioError
    with pytest.raises(StudioError, match="eight-gaussians"):
        catalog.get("no-such-model")

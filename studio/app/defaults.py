"""The pipeline on the canvas at first start: a built-in 2-D Gaussian mixture, an EDM process and
DPM-Solver++(2M), 2,000 particles."""
from __future__ import annotations

from ..core import catalog


def default_pipeline(model: str = catalog.DEFAULT_MODEL) -> dict:
    entry = next(e for e in catalog.builtin() if e.name == model)
    return {
        "format": "studio.pipeline/1",
        "nodes": {
            "process": {"type": "process", "kind": "edm", "params": {}},
            "network": entry.network_node(),
            "dpm-solver++-2m": {"type": "solver", "kind": "dpm-solver++-2m",
                                "params": {"steps": 20, "schedule": "karras"}},
        },
        "links": [["process", "network"], ["network", "dpm-solver++-2m"]],
        "run": {"batch": 2000, "seed": 0, "device": "cpu", "dtype": "float64"},
        "ui": {"positions": {"process": [0, 0], "network": [270, 0], "dpm-solver++-2m": [540, 0]},
               "model": model},
    }

"""Write the example pipelines of the start page that need data files (run from the repository root):

* ``examples/inpainting.json`` with ``inpainting_prior.npy`` (the empirical prior: scikit-learn's
  8x8 digits, values / 16, all but the held-out ones), ``inpainting_mask.npy`` (the top half of the
  image observed) and ``inpainting_y.npy`` (a held-out digit, the measurement): RePaint-style
  replacement and DDNM side by side, from the same noise.

Deterministic: running it again writes the same bytes.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
#: held-out digits (never in the prior); the measurement is the first
HELD_OUT = 10


def main() -> int:
    sys.path.insert(0, ROOT)
    from studio.core.training.data import load_digits_arrays

    x, labels = load_digits_arrays()
    x = np.asarray(x, dtype=np.float32).reshape(-1, 1, 8, 8)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(x))
    held, prior = order[:HELD_OUT], np.sort(order[HELD_OUT:])
    # a held-out "3": its top half is shared by 3s, 2s, 7s, 9s...
    target = next(i for i in held if labels[i] == 3) if any(labels[held] == 3) else held[0]
    mask = np.zeros((1, 8, 8), np.float32)
    mask[:, :4, :] = 1.0
    y = x[target] * mask
    np.save(os.path.join(EXAMPLES, "inpainting_prior.npy"), x[prior])
    np.save(os.path.join(EXAMPLES, "inpainting_mask.npy"), mask)
    np.save(os.path.join(EXAMPLES, "inpainting_y.npy"), y)
    operator = {"kind": "inpaint", "mask": "inpainting_mask.npy"}
    pipe = {
        "format": "studio.pipeline/1",
        "nodes": {
            "process": {"type": "process", "kind": "vp-cosine", "params": {}},
            "prior": {"type": "network", "kind": "empirical",
                      "params": {"data": "inpainting_prior.npy"}},
            "replace": {"type": "guidance", "kind": "replace",
                        "params": {"operator": operator, "y": "inpainting_y.npy"}},
            "ddnm": {"type": "guidance", "kind": "ddnm",
                     "params": {"operator": operator, "y": "inpainting_y.npy"}},
            "replace-ddim": {"type": "solver", "kind": "ddim", "params": {"steps": 30}},
            "ddnm-ddim": {"type": "solver", "kind": "ddim", "params": {"steps": 30}},
        },
        "links": [["process", "prior"], ["prior", "replace"], ["prior", "ddnm"],
                  ["replace", "replace-ddim"], ["ddnm", "ddnm-ddim"]],
        "run": {"batch": 25, "seed": 0, "device": "cpu", "dtype": "float64"},
    }
    with open(os.path.join(EXAMPLES, "inpainting.json"), "w", encoding="utf-8") as fh:
        json.dump(pipe, fh, indent=2)
        fh.write("\n")
    print(f"inpainting: prior {len(prior)} digits, measurement = top half of a held-out "
          f"{labels[target]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

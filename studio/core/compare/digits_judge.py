"""``digits-mlp``: an independent judge for 8x8 digit samples, trained here on the real digits.

The built-in judge ``digits`` is the bundled noise-conditional classifier, the very network that
classifier guidance steers with: samples guided by it were pushed to please it, so it overrates
them. This judge is a different network, trained on the 1797 real scikit-learn digits (the UCI
optical digits test set, pixel values 0..16 scaled to [0, 1], the bundled digits model's data
units): an MLP 64-128-64-10 with ReLUs, in float64, Adam (lr 3e-3, weight decay 1e-4), batches
of 128 over a seeded permutation, 300 epochs, seed 1. Classes are its argmax; features its
64-d penultimate layer (the Frechet distance's feature space, as FID uses Inception's).

It is the judge of the README's classifier-guidance table (``benchmarks/classifier_guidance.py``,
``benchmarks/model_quality.py`` train it with :func:`train_mlp`), so a comparison that selects it
(``--metrics classifier-accuracy:judge=digits-mlp``) reproduces that table's numbers. Training
is deterministic (one intra-op thread while it runs, whatever the caller set) and takes about ten
seconds on one core; it runs once per process, on first use. It needs scikit-learn (for the
data set, which ships inside scikit-learn: nothing is downloaded).
"""
from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor


NAME = "digits-mlp"
DATA_SHAPE = (1, 8, 8)
SEED = 1
EPOCHS = 300


class DigitsMLP(torch.nn.Module):
    """64 -> 128 -> 64 -> 10 with ReLUs; ``features`` is everything but the last layer."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                            torch.nn.Linear(128, 64), torch.nn.ReLU())
        self.head = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.features(x))


def train_mlp(x, y, seed: int = 0, epochs: int = EPOCHS) -> DigitsMLP:
    """Train a :class:`DigitsMLP` (float64) on images ``x`` [N, 64] with classes ``y`` [N];
    deterministic for given data, seed and epochs (run on one intra-op thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # gradients on (a metric asks for features under torch.no_grad); the caller's global
        # random state is left as it was
        with torch.enable_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            clf = DigitsMLP().double()
            opt = torch.optim.Adam(clf.parameters(), lr=3e-3, weight_decay=1e-4)
            xt, yt = torch.as_tensor(x), torch.as_tensor(y)
            g = torch.Generator().manual_seed(seed)
            for _ in range(epochs):
                perm = torch.randperm(len(xt), generator=g)
                for i in range(0, len(xt), 128):
                    idx = perm[i:i + 128]
                    loss = torch.nn.functional.cross_entropy(clf(xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    finally:
        torch.set_num_threads(threads)
    return clf.eval()


def real_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 real digits as float64 [1797, 64] in [0, 1] and their classes [1797] (the
    training data set ``digits``: scikit-learn's copy of the UCI optical digits)."""
    from ..training.data import load_digits_arrays
    x, y = load_digits_arrays()
    return x.reshape(len(x), 64).astype(np.float64), y


def real_halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded halves (898 and 899) of the 1797 real digits: the Frechet distance's
    data (the first) and its real-vs-real floor (the second against the first)."""
    perm = np.random.default_rng(0).permutation(len(x))
    return x[perm[:898]], x[perm[898:1797]]


@functools.lru_cache(maxsize=1)
def trained() -> DigitsMLP:
    """The judge's network, trained once per process."""
    x, y = real_digits()
    return train_mlp(x, y, seed=SEED)


class MLPDigitsJudge:
    """The judge protocol of :mod:`.judges` over :func:`trained` (samples in data units). Making
    one is free (a comparison of other data asks every judge whether it applies); the network is
    trained on the first features or classes asked for."""

    name = NAME

    @property
    def _net(self) -> DigitsMLP:
        return trained()

    def applies(self, data_shape) -> bool:
        return tuple(data_shape) == DATA_SHAPE

    @staticmethod
    def _flat(x) -> Tensor:
        x = torch.as_tensor(x).detach().cpu()
        return x.reshape(len(x), -1).to(torch.float64)

    def features(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._net.features(self._flat(x))

    def classify(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._net(self._flat(x)).argmax(1)


def available() -> bool:
    import importlib.util
    return importlib.util.find_spec("sklearn") is not None


__all__ = ["DigitsMLP", "MLPDigitsJudge", "train_mlp", "real_digits", "real_halves", "trained",
           "available", "NAME"]

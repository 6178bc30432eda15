"""Judges: trained feature extractors / classifiers that score image samples (e.g. digits).

The bundled noise-conditional digits classifier (``assets:digits-classifier.safetensors``) is the
built-in judge ``digits`` for 8x8 digit images (:class:`ClassifierFileJudge`: any classifier model
file can judge), and the default where no judge is named. ``digits-mlp`` (:mod:`.digits_judge`,
where scikit-learn is installed) is an independent one trained on real digits: the judge for
samples that ``digits`` itself guided, and of the README's guidance table. Other judges are registered at run time by whoever owns one::

    from studio.core.compare.judges import register_judge

    class DigitsJudge:
        name = "digits"
        def applies(self, data_shape): return tuple(data_shape) == (1, 28, 28)
        def features(self, x): ...   # [B, *data_shape] -> [B, F] (penultimate layer)
        def classify(self, x): ...   # [B, *data_shape] -> [B] integer classes

    register_judge("digits", DigitsJudge)       # a class or a zero-argument factory

Once one applies to the data shape, the metrics ``classifier-accuracy`` (accuracy of the judge's
class against the labels the samples were drawn for) and ``frechet-distance`` (Frechet distance of
the judge's features to the data's, with a data-vs-data floor) are computed for every cell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import torch
from torch import Tensor

from ..params import param
from . import distances
from .metrics import METRICS, Metric


class Judge(Protocol):
    name: str

    def applies(self, data_shape: tuple[int, ...]) -> bool: ...

    def features(self, x: Tensor) -> Tensor: ...

    def classify(self, x: Tensor) -> Tensor: ...


_FACTORIES: dict[str, Callable[[], Judge]] = {}
_INSTANCES: dict[str, Judge] = {}


def register_judge(name: str, factory: Callable[[], Judge]) -> None:
    """Make a judge available to comparisons (a later registration under a name replaces it)."""
    _FACTORIES[name] = factory
    _INSTANCES.pop(name, None)


def unregister_judge(name: str) -> None:
    _FACTORIES.pop(name, None)
    _INSTANCES.pop(name, None)


def judge_names() -> list[str]:
    return list(_FACTORIES)


def find_judge(data_shape, name: str | None = None) -> Optional[Judge]:
    """The first registered judge (or the one named) that applies to ``data_shape``."""
    for n, factory in _FACTORIES.items():
        if name is not None and n != name:
            continue
        if n not in _INSTANCES:
            _INSTANCES[n] = factory()
        j = _INSTANCES[n]
        if j.applies(tuple(data_shape)):
            return j
    return None


def _judge_for(inp, name: str | None) -> Judge:
    key = ("judge", name, tuple(inp.samples.shape[1:]))
    if key not in inp.shared:
        inp.shared[key] = find_judge(inp.samples.shape[1:], name)
    return inp.shared[key]


@dataclass
class _Judged(Metric):
    judge: Optional[str] = param(None, "judge name (default: the first that fits the data shape)")

    def unavailable(self, info):
        why = super().unavailable(info)
        if why is None and self.judge is not None and self.judge not in _FACTORIES:
            why = (f"no judge named {self.judge!r}; registered: "
                   f"{', '.join(judge_names()) or 'none'}")
        if why is None and find_judge(info.get("data_shape", ()), self.judge) is None:
            why = ("no judge (classifier) registered for data shape "
                   f"{list(info.get('data_shape', ()))}"
                   + (f" named {self.judge!r}" if self.judge is not None else ""))
        return why


@METRICS.register("classifier-accuracy")
@dataclass
class ClassifierAccuracy(_Judged):
    """Fraction of samples the judge classifies as the label they were drawn for."""

    title = "Classifier accuracy"
    needs = ("labels",)
    lower_is_better = False

    def compute(self, inp):
        j = _judge_for(inp, self.judge)
        with torch.no_grad():
            pred = torch.as_tensor(j.classify(inp.samples)).reshape(-1).cpu()
        return float((pred == inp.labels.reshape(-1).cpu()).double().mean())


@METRICS.register("frechet-distance")
@dataclass
class FrechetDistance(_Judged):
    """Frechet distance between Gaussians fitted to the judge's features of the samples and of
    the data (FID-style, with the judge as the feature network)."""

    title = "Frechet distance (judge features)"
    needs = ("data",)
    has_floor = True
    samples: int = param(0, "score the first N samples of each cell and of the floor's draw "
                         "(0: all): the distance is biased by the sample count, so give the "
                         "sets the same size", min=0)

    def compute(self, inp):
        j = _judge_for(inp, self.judge)
        key = ("fd-data", self.judge, id(inp.data))
        x = inp.samples[:self.samples] if self.samples else inp.samples
        with torch.no_grad():
            if key not in inp.shared:
                inp.shared[key] = distances.gaussian_stats(torch.as_tensor(j.features(inp.data)))
            feats = torch.as_tensor(j.features(x))
        return distances.frechet_distance(feats, inp.shared[key])


class ClassifierFileJudge:
    """A judge from a noise-conditional classifier model file (parameterization ``logits``), read
    at its cleanest time: classes are its argmax, features its pooled penultimate layer. Samples
    arrive in data units and are mapped to the classifier's own. Judging samples that the same
    classifier guided is biased (they were pushed to please it): pick another judge for those."""

    def __init__(self, path: str, name: str = ""):
        from ..library import resolve_model_path
        from ..modelfile import load_model
        self._m = load_model(resolve_model_path(path))
        if not self._m.spec.is_classifier:
            raise ValueError(f"{path} is not a classifier")
        self.name = name or self._m.spec.name
        self._m.model.eval()

    def applies(self, data_shape) -> bool:
        return tuple(data_shape) == tuple(self._m.spec.data_shape)

    def _inputs(self, x: Tensor):
        m = self._m.model
        x = self._m.spec.to_model_units(torch.as_tensor(x).detach().cpu().float())
        return m.inputs(x, m.coefficients(torch.tensor(float(m.process.t_min), dtype=torch.float64)))

    def features(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._m.model.net.features(*self._inputs(x)).double()

    def classify(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self._m.model.net.head(self._m.model.net.features(*self._inputs(x))).argmax(1)


def _bundled_digits_judge():
    return ClassifierFileJudge("assets:digits-classifier.safetensors", "digits")


def _digits_mlp_judge():
    from .digits_judge import MLPDigitsJudge
    return MLPDigitsJudge()


def _register_bundled() -> None:
    from ..library import bundled_dir
    from .digits_judge import NAME, available
    if (bundled_dir() / "digits-classifier.safetensors").is_file():
        register_judge("digits", _bundled_digits_judge)
    if available():  # after "digits": the default judge stays the bundled classifier
        register_judge(NAME, _digits_mlp_judge)


_register_bundled()

__all__ = ["Judge", "ClassifierFileJudge", "register_judge", "unregister_judge", "find_judge",
           "judge_names"]

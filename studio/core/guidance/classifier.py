"""Classifier guidance (Song et al. 2021, "Score-Based Generative Modeling through SDEs", sec. I;
Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image Synthesis", Algorithms 1-2).

Bayes' rule on the noisy marginals gives the score of the class-conditional p_t(x | y):

    grad log p_t(x | y) = grad log p_t(x) + grad log p_t(y | x)

so a noise-conditional classifier turns an unconditional model into a conditional one; a scale s
on the second term sharpens (s > 1) or softens it. With score = -eps / sigma = (alpha x0 - x) /
sigma^2, the guided predictions are

    eps_guided = eps - s sigma grad_x log p(y | x_t)
    x0_guided  = x0 + s (sigma^2 / alpha) grad_x log p(y | x_t)

returned in the network's own parameterization. The classifier is a
model file of parameterization ``logits`` (trained with the objective target ``classifier``), or
``exact``: the exact p(component | x_t) of a ``gmm`` network, whose guided prediction at scale 1 is
the exact posterior mean of that component alone (the test bed). A classifier trained under another
process or normalisation is queried at the time of equal log-SNR in its own units, exactly like a
trained network. Labels come from ``run.labels``; a label of -1 is not guided.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ParamError, StudioError
from ..parameterization import from_x0_eps, to_x0_eps
from ..params import param
from ..processes.base import _bcast, as_time
from ..registry import GUIDANCE
from .base import Guidance

EXACT = "exact"
#: alpha / sigma at which the alpha -> 0 limit of the guided x0 is evaluated
ALPHA_LIMIT = 1e-6


def _normalisation(network) -> tuple[Any, Any]:
    """(shift, scale) with data = model * scale + shift for a network (analytic: identity)."""
    spec = getattr(network, "spec", None)
    return (spec.shift, spec.scale) if spec is not None else (0.0, 1.0)


@GUIDANCE.register("classifier")
@dataclass
class ClassifierGuidance(Guidance):
    """Classifier guidance: add s grad log p(y | x_t) of a noise-conditional classifier to the
    score (labels from run.labels)."""

    title = "Classifier guidance"
    classifier: str = param("exact", "noise-conditional classifier: a model file (absolute, "
                            "relative to the pipeline, or assets:NAME.safetensors), or 'exact' "
                            "for the exact p(component | x_t) of a gmm network", ui="model")
    scale: float = param(1.0, "guidance scale s on grad log p(y | x_t); 1 = Bayes' rule (the "
                         "exact conditional for an exact classifier), 0 = no guidance",
                         min=0.0, max=1000.0)
    conditional: bool = param(False, "also give the labels to the network (guide a conditional "
                              "model, as ADM does); off: the network's unconditional prediction")
    _base_dir: str = field(default="", repr=False, kw_only=True)

    def __post_init__(self):
        self._loaded = None
        self._modules: dict = {}
        self._network = self._process = None
        self._ab = (1.0, torch.zeros(()))     # classifier units: x0' = a x0 + b (set by bind)
        if self.classifier != EXACT:
            from ..library import resolve_model_path
            from ..modelfile import load_model
            path = resolve_model_path(self.classifier, self._base_dir or None, "classifier")
            try:
                self._loaded = load_model(path)
            except StudioError as exc:
                raise ParamError(str(exc), "classifier") from None
            if not self._loaded.spec.is_classifier:
                raise ParamError(f"{path} is a denoiser (it predicts "
                                 f"{self._loaded.spec.parameterization}), not a classifier: train "
                                 "one with the objective target 'classifier'", "classifier")

    @property
    def num_classes(self) -> int:
        if self._loaded is not None:
            return self._loaded.spec.num_classes
        return self._network.num_components if self._network is not None else 0

    def bind(self, network, process) -> None:
        self._network, self._process = network, process
        if self.classifier == EXACT:
            if not hasattr(network, "component_log_posterior"):
                raise ParamError(f"'exact' needs a gmm network (its components are the classes), "
                                 f"not {network.id!r}: give a classifier model file", "classifier")
        else:
            spec = self._loaded.spec
            if tuple(spec.data_shape) != tuple(network.data_shape):
                raise ParamError(f"the classifier takes data of shape {list(spec.data_shape)}, the "
                                 f"network makes {list(network.data_shape)}", "classifier")
            self._ab = self._units(network)
        if self.conditional and not network.num_classes:
            raise ParamError("the network is unconditional: turn 'conditional' off", "conditional")
        spec = getattr(network, "spec", None)
        if not self.conditional and network.num_classes and spec is not None \
                and spec.class_dropout <= 0:
            raise ParamError("the network is class-conditional and has no unconditional mode (it "
                             "was trained without class dropout): turn 'conditional' on",
                             "conditional")

    def _units(self, network) -> tuple[float, Any]:
        """(a, b): classifier-units x0 = a * network-units x0 + b."""
        s_n, k_n = _normalisation(network)
        s_c, k_c = self._loaded.spec.shift, self._loaded.spec.scale
        shape = tuple(network.data_shape)
        ratio = torch.as_tensor(k_n, dtype=torch.float64) / torch.as_tensor(k_c, dtype=torch.float64)
        if ratio.ndim and not bool(torch.allclose(ratio, ratio.flatten()[0])):
            raise ParamError("the classifier's data scale differs from the network's per channel; "
                             "train it on the network's data set", "classifier")
        a = float(ratio.flatten()[0]) if ratio.ndim else float(ratio)
        b = (torch.as_tensor(s_n, dtype=torch.float64) - torch.as_tensor(s_c, dtype=torch.float64)) \
            / torch.as_tensor(k_c, dtype=torch.float64)
        if b.ndim == 1 and len(shape) > 1:
            b = b.reshape((-1,) + (1,) * (len(shape) - 1))
        return a, b

    def _module_on(self, device: torch.device):
        key = str(device)
        if key not in self._modules:
            m = self._loaded.model
            m = m if device.type == "cpu" else copy.deepcopy(m).to(device)
            self._modules[key] = m.eval()
        return self._modules[key]

    def log_probs(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log p(class | x_t) [B, classes] at the pipeline's (x, t), differentiable in x."""
        if self.classifier == EXACT:
            return self._network.component_log_posterior(x, t, self._process)
        proc, clf = self._process, self._loaded
        trained = clf.model.process
        a, b = self._ab
        t = as_time(t, x)
        t2 = torch.clamp(trained.t_of_logsnr(proc.logsnr(t) - 2.0 * math.log(a)),
                         trained.t_min, trained.t_max)
        # equal SNR in the classifier's units: x' = (sigma' / sigma) x + alpha' b
        scale = _bcast(trained.sigma(t2) / proc.sigma(t), x).to(x.dtype)
        shift = _bcast(trained.alpha(t2), x).to(x.dtype) * b.to(x.device, x.dtype)
        module = self._module_on(x.device)
        t2 = t2.expand(x.shape[0]) if t2.ndim == 0 else t2
        logits = module(((scale * x + shift)).to(torch.float32), t2)
        return torch.log_softmax(logits.to(x.dtype), dim=1)

    def grad_log_p(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """grad_x log p(y | x_t) per sample (zero where the label is -1)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            logp = self.log_probs(xg, t).gather(1, labels.clamp_min(0)[:, None])[:, 0]
            logp = torch.where(labels >= 0, logp, torch.zeros_like(logp))
            (grad,) = torch.autograd.grad(logp.sum(), xg)
        return grad.detach()

    def guide(self, net, kind, x, t, coeffs, labels):
        if labels is None:
            raise StudioError("classifier guidance needs the classes to guide towards: set "
                              "run.labels", "run.labels")
        b = x.shape[0]
        lab = (labels.expand(b) if labels.ndim == 0 else labels).to(x.device, torch.long)
        k = self.num_classes
        if bool((lab >= k).any()) or bool((lab < -1).any()):
            raise StudioError(f"labels must be class ids 0..{k - 1} of the classifier (or -1: "
                              "not guided)", "run.labels")
        pred = net(x, t, lab if self.conditional else None)
        if self.scale == 0.0:
            return kind, pred
        x0, eps = to_x0_eps(kind, pred, x, coeffs)
        a, s = coeffs.alpha, coeffs.sigma
        grad = self.scale * self.grad_log_p(x, t, lab)
        nonzero = a != 0
        x0_shift = s * s / torch.where(nonzero, a, torch.ones_like(a)) * grad
        if not bool(nonzero.all()):
            x0_shift = torch.where(nonzero, x0_shift, self._shift_at_zero_alpha(x, t, lab, s))
        # x = alpha x0 + sigma eps still holds for the guided pair
        return kind, from_x0_eps(kind, x0 + x0_shift, eps - s * grad, coeffs)

    def _shift_at_zero_alpha(self, x, t, labels, sigma):
        """lim_{alpha -> 0} s (sigma^2 / alpha) grad log p(y | x_t): where alpha = 0 (rectified
        flow at t = 1) grad vanishes but the x0 shift does not (E[x0 | y] != E[x0]); taken at the
        time where alpha / sigma = ALPHA_LIMIT, with x at that noise scale (error O(ALPHA_LIMIT))."""
        proc = self._process
        lam = torch.full_like(as_time(t, x), 2.0 * math.log(ALPHA_LIMIT))
        t_l = torch.clamp(proc.t_of_logsnr(lam), proc.t_min, proc.t_max)
        a_l = _bcast(proc.alpha(t_l), x).to(x.dtype)
        s_l = _bcast(proc.sigma(t_l), x).to(x.dtype)
        x_l = x * (s_l / sigma)
        return self.scale * s_l * s_l / a_l * self.grad_log_p(x_l, t_l, labels)

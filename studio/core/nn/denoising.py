"""An architecture module wrapped into a denoiser of one process: input scaling, noise
conditioning and optional EDM preconditioning, in any process's (alpha, sigma) frame.

With x = alpha x0 + sigma eps and data standard deviation sigma_data (in model units):

    c_in    = 1 / sqrt(alpha^2 sigma_data^2 + sigma^2)          (unit-variance network input)
    c_noise = (t - t_min) / (t_max - t_min)        time input "t" (bounded processes), or
            = log(sigma / alpha) / 4                time input "log-sigma" (EDM, VE)

Without preconditioning the module's output F is the prediction itself. With EDM-style
preconditioning (Karras et al. 2022) generalised to every target y = A x0 + B eps (x0: A=1, B=0;
eps: 0, 1; v: -sigma, alpha; velocity: alpha', sigma'; score: 0, -1/sigma):

    y = c_skip x + c_out F,   c_skip = (A alpha sigma_data^2 + B sigma) / V,
                              c_out  = sigma_data |A sigma - B alpha| / sqrt(V),
                              V = alpha^2 sigma_data^2 + sigma^2

c_skip x is the best linear predictor of y for data of standard deviation sigma_data and c_out the
standard deviation of what is left, so F always has a unit-variance target. For x0 at alpha = 1
these are EDM's formulas; they stay finite at alpha = 0 (rectified flow at t = 1). At fixed x every
target is affine in x0, so F's target is the same for every parameterization (up to sign): the
parameterization then only decides what the file declares and how F is mapped.

A noise-conditional classifier (parameterization ``logits``, architecture ``classifier``) is wrapped
the same way, for the same input scaling and noise conditioning: its output is the class logits
[B, classes] of x_t, without preconditioning and without a label input.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..processes.base import Process, as_time

PRECONDS = ("none", "edm")
TARGET_KINDS = ("eps", "x0", "v", "velocity", "score")
#: the parameterization of a noise-conditional classifier (not a denoiser)
LOGITS = "logits"
TIME_INPUTS = ("t", "log-sigma")
LOG_SIGMA_CLAMP = 6.0


def target_coefficients(kind: str, a: Tensor, s: Tensor, da: Tensor, ds: Tensor):
    """(A, B) with target = A x0 + B eps for the parameterization ``kind``."""
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    if kind == "eps":
        return zero, one
    if kind == "x0":
        return one, zero
    if kind == "v":
        return -s, a
    if kind == "velocity":
        return da, ds
    if kind == "score":
        return zero, -1.0 / s
    raise ValueError(f"unknown parameterization {kind!r}")


def default_time_input(process: Process) -> str:
    """log-sigma for processes whose t is a noise level (EDM, VE: prior_std > 1), else t."""
    return "log-sigma" if process.prior_std > 1.5 else "t"


class DenoisingModel(nn.Module):
    """``forward(x, t, labels)`` -> the prediction of ``parameterization`` under ``process``.

    ``t`` holds one float64 time per sample (or a scalar); labels are class ids with
    ``num_classes`` (or any negative id) meaning "no class".
    """

    def __init__(self, net: nn.Module, process: Process, parameterization: str, precond: str,
                 sigma_data: float, time_input: str, num_classes: int):
        super().__init__()
        if precond not in PRECONDS:
            raise ValueError(f"precond must be one of {PRECONDS}, got {precond!r}")
        if time_input not in TIME_INPUTS:
            raise ValueError(f"time_input must be one of {TIME_INPUTS}, got {time_input!r}")
        if parameterization not in TARGET_KINDS + (LOGITS,):
            raise ValueError(f"parameterization must be one of {TARGET_KINDS + (LOGITS,)}")
        if parameterization == LOGITS and precond != "none":
            raise ValueError("a classifier (logits) takes no preconditioning")
        self.net = net
        self.process = process
        self.parameterization = parameterization
        self.precond = precond
        self.sigma_data = float(sigma_data)
        self.time_input = time_input
        # a classifier predicts the class: it takes no label input
        self.num_classes = 0 if parameterization == LOGITS else int(num_classes)

    # -- coefficients (float64, per sample) ------------------------------------------------------
    def coefficients(self, t: Tensor) -> dict[str, Tensor]:
        """alpha, sigma, their derivatives, c_in, c_noise, c_skip, c_out at ``t`` (float64)."""
        t = as_time(t)
        a, s, da, ds = self.process.coeffs(t)
        sd = self.sigma_data
        var = a * a * sd * sd + s * s
        norm = torch.sqrt(var)
        out = {"alpha": a, "sigma": s, "dalpha": da, "dsigma": ds, "c_in": 1.0 / norm}
        if self.time_input == "t":
            lo, hi = float(self.process.t_min), float(self.process.t_max)
            out["c_noise"] = (t - lo) / (hi - lo)
        else:
            out["c_noise"] = torch.clamp(0.25 * (torch.log(s) - torch.log(a)),
                                         -LOG_SIGMA_CLAMP, LOG_SIGMA_CLAMP)
        if self.parameterization == LOGITS:
            return out
        A, B = target_coefficients(self.parameterization, a, s, da, ds)
        out["c_skip"] = (A * a * sd * sd + B * s) / var
        out["c_out"] = sd * torch.abs(A * s - B * a) / norm
        return out

    def labels_for(self, labels: Tensor | None, batch: int, device) -> Tensor | None:
        if self.num_classes == 0:
            return None
        if labels is None:
            return torch.full((batch,), self.num_classes, dtype=torch.long, device=device)
        labels = labels.to(device=device, dtype=torch.long)
        return torch.where(labels < 0, torch.full_like(labels, self.num_classes), labels)

    def inputs(self, x: Tensor, coeffs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The module's inputs (c_in x, c_noise) for x (already in the module's dtype)."""
        b = x.shape[0]
        view = (b,) + (1,) * (x.ndim - 1)
        c_in = coeffs["c_in"].to(x.device, x.dtype).expand(b).reshape(view)
        return x * c_in, coeffs["c_noise"].to(x.device, x.dtype).expand(b)

    def raw(self, x: Tensor, coeffs: dict[str, Tensor], labels: Tensor | None) -> Tensor:
        """The module's output F for input x (already in the module's dtype)."""
        return self.net(*self.inputs(x, coeffs), self.labels_for(labels, x.shape[0], x.device))

    def combine(self, x: Tensor, raw: Tensor, coeffs: dict[str, Tensor]) -> Tensor:
        """The prediction from the module's output (c_skip x + c_out F under preconditioning)."""
        if self.precond == "none":
            return raw
        view = (x.shape[0],) + (1,) * (x.ndim - 1)
        c_skip = coeffs["c_skip"].to(x.device, x.dtype).expand(x.shape[0]).reshape(view)
        c_out = coeffs["c_out"].to(x.device, x.dtype).expand(x.shape[0]).reshape(view)
        return c_skip * x + c_out * raw

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        coeffs = self.coefficients(t)
        return self.combine(x, self.raw(x, coeffs, labels), coeffs)

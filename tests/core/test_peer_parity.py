"""Parity with diffusers' schedulers on the discrete DDPM process (skipped without diffusers).

Both sides are driven by the same analytic model: a Gaussian mixture's exact prediction at the
integer timestep k (t = k / 999 on ``ddpm-discrete``, where alpha and sigma are the table's), fed
to diffusers as eps. Diffusers runs N timesteps k_1 > ... > k_N and, from k_N, a last step to
sigma = 0 (alpha_prod = 1); our grid is those N timesteps (``custom`` schedule, N - 1 steps) and
our final denoise at k_N stands for that last step:

- DDIMScheduler(set_alpha_to_one=True, clip_sample=False): the last step returns the x0
  prediction at k_N, which is our final denoise. ``leading`` and ``trailing`` spacings only:
  with ``linspace`` diffusers moves x to k - T // N but evaluates the model at the next linspace
  timestep, which differs; nothing on our side corresponds to that mismatch.
- DPMSolverMultistepScheduler (dpmsolver++, midpoint, final_sigmas_type="zero"): its last step
  is first order to sigma = 0, i.e. the x0 prediction at k_N. With solver_order=3 it matches
  ``dpm-solver++-3m`` with variant="reference" (its D2 coefficient; see that solver).
- UniPCMultistepScheduler: at k_N it corrects the sample with the new evaluation, then predicts
  to sigma = 0 at first order, which returns the x0 of that evaluation (at the uncorrected
  sample): our UniPC hands the same evaluation to the final denoise (Step.final). With bh1 that
  last diffusers step is NaN (B(h) = h = inf times a zero residual); its limit is the x0 it keeps
  in ``model_outputs[-1]``, which is what we compare there.
- PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=True): its last step is the transfer to
  alpha = 1 with the Adams-Bashforth combination that includes the evaluation at k_N; our PLMS
  builds the final denoise from exactly that. Leading spacing (PNDM's transfer assumes steps of
  T // N).

Measured differences are ~1e-6 (diffusers keeps alphas_cumprod and sigmas in float32).
"""
from __future__ import annotations

import functools

import pytest
import torch

from studio.core.model import Denoiser

from .helpers import GMM8, network, prior, process, solve

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.peers

BETAS = {"linear": dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02),
         "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)}

CASES = {
    # id: (our solver, our params, diffusers scheduler factory, result: "sample" | "last_x0")
    "ddim-leading": ("ddim", {}, functools.partial(
        diffusers.DDIMScheduler, set_alpha_to_one=True, clip_sample=False), "sample"),
    "ddim-trailing": ("ddim", {}, functools.partial(
        diffusers.DDIMScheduler, set_alpha_to_one=True, clip_sample=False,
        timestep_spacing="trailing"), "sample"),
    "dpm-solver++-2m": ("dpm-solver++-2m", {}, diffusers.DPMSolverMultistepScheduler, "sample"),
    "dpm-solver++-3m": ("dpm-solver++-3m", {"variant": "reference"}, functools.partial(
        diffusers.DPMSolverMultistepScheduler, solver_order=3), "sample"),
    "unipc-bh2-2": ("unipc", {}, diffusers.UniPCMultistepScheduler, "sample"),
    "unipc-bh2-3": ("unipc", {"solver_order": 3}, functools.partial(
        diffusers.UniPCMultistepScheduler, solver_order=3), "sample"),
    "unipc-bh2-1": ("unipc", {"solver_order": 1}, functools.partial(
        diffusers.UniPCMultistepScheduler, solver_order=1), "sample"),
    "unipc-bh1-3": ("unipc", {"solver_order": 3, "variant": "bh1"}, functools.partial(
        diffusers.UniPCMultistepScheduler, solver_order=3, solver_type="bh1"), "last_x0"),
    "plms": ("plms", {}, functools.partial(
        diffusers.PNDMScheduler, skip_prk_steps=True, set_alpha_to_one=True), "sample"),
    "plms-offset": ("plms", {}, functools.partial(
        diffusers.PNDMScheduler, skip_prk_steps=True, set_alpha_to_one=True, steps_offset=1),
        "sample"),
}


def run_diffusers(scheduler, proc, net, x, n_steps: int, result: str):
    """Drive a diffusers scheduler with our model's eps; returns (output, its timesteps)."""
    den = Denoiser(net, proc)
    scheduler.set_timesteps(n_steps)
    for k in scheduler.timesteps:
        eps = den(x, proc.timestep_to_t(float(k))).eps
        x = scheduler.step(eps, k, x).prev_sample
    out = scheduler.model_outputs[-1] if result == "last_x0" else x
    return out, list(dict.fromkeys(int(k) for k in scheduler.timesteps))


@pytest.mark.parametrize("n_steps", [4, 25])
@pytest.mark.parametrize("betas", list(BETAS))
@pytest.mark.parametrize("case", list(CASES))
def test_matches_diffusers(case, betas, n_steps):
    sid, params, make, result = CASES[case]
    proc = process("ddpm-discrete", **BETAS[betas])
    net = network("gmm", **GMM8)
    x_T = prior(proc, 64)
    theirs, timesteps = run_diffusers(make(num_train_timesteps=1000, **BETAS[betas]), proc, net,
                                      x_T.clone(), n_steps, result)
    assert torch.isfinite(theirs).all()
    _, res = solve(sid, proc, net, x_T, schedule="custom", timesteps=[float(k) for k in timesteps],
                   steps=len(timesteps) - 1, **params)
    diff = float((res.samples - theirs).abs().max())
    assert diff < 1e-4, f"{case} ({betas}, {n_steps} steps): max |ours - diffusers| = {diff:.3g}"


def test_same_number_of_evaluations():
    """Equal cost: diffusers calls the model once per timestep (plus once more for PNDM's
    pseudo-Heun first step); so do we, the final denoise included."""
    proc = process("ddpm-discrete")
    net = network("gmm", **GMM8)
    x_T = prior(proc, 8)
    timesteps = [900.0, 700.0, 500.0, 300.0, 100.0]
    for sid, expected in [("ddim", 5), ("dpm-solver++-2m", 5), ("unipc", 5), ("plms", 6)]:
        _, res = solve(sid, proc, net, x_T, schedule="custom", timesteps=timesteps, steps=4)
        assert res.nfe == expected, sid

"""Probability-flow ODE inversion: data -> the noise that the pipeline's ODE solver maps back to it.

The solver's grid t_0 > ... > t_n is run backwards (t_n -> t_0) by the same deterministic solver
(DDIM with eta = 0 gives DDIM inversion; ``dopri5`` an adaptive high-order one). When the solver
returns the x0-prediction at the last time (``denoise_final``), the run's output is x0^(x_{t_n}),
not x_{t_n}; the inversion then first solves x0^(x) = data for the state x at t_n by the
fixed-point iteration x <- x + (data - x0^(x)) (Newton's with the identity for the Jacobian of
x0^, which is close to it at t_n), so that regeneration returns the data and not a slightly
noised copy. The noise is returned standard-normal, z = x_{t_0} / prior_std: what
``studio run --noise`` takes.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .errors import PipelineError
from .runner import branch_generator
from .solvers.base import SolveContext
from .start import to_model_units


def inversion_branch(built, solver_id: str | None = None):
    """The branch to invert with: ``solver_id``, or the first deterministic solver."""
    for b in built.branches:
        if solver_id is not None and b.solver != solver_id:
            continue
        s = built.solvers[b.solver]
        if s.is_stochastic():
            if solver_id is not None:
                raise PipelineError(f"solver {b.solver!r} ({s.id}) draws noise; inversion needs a "
                                    "deterministic (ODE) solver", f"node {b.solver!r}")
            continue
        return b
    if solver_id is not None:
        raise PipelineError(f"no solver node {solver_id!r}; solvers: "
                            f"{', '.join(b.solver for b in built.branches)}", "--solver")
    raise PipelineError("every solver of the pipeline draws noise; inversion needs a deterministic "
                        "(ODE) solver such as ddim (eta 0), heun or dopri5", "pipeline")


def _solve_state(den, target: Tensor, t, iters: int, tol: float) -> Tensor:
    """x with x0^(x, t) = target, by x <- x + (target - x0^(x)); an item whose residual grows
    keeps its best state (the iteration contracts where x0^ is close to the identity)."""
    x, best = target.clone(), target.clone()
    best_r = torch.full((target.shape[0],), float("inf"), dtype=torch.float64, device=target.device)
    limit = tol * max(1.0, float(target.abs().max()))
    for _ in range(iters):
        r = target - den(x, t).x0
        rn = r.reshape(r.shape[0], -1).abs().max(1).values.to(torch.float64)
        better = rn < best_r
        view = (-1,) + (1,) * (x.ndim - 1)
        best = torch.where(better.reshape(view), x, best)
        best_r = torch.where(better, rn, best_r)
        if float(best_r.max()) <= limit or not bool(better.any()):
            break
        x = torch.where(better.reshape(view), x + r, best)
    return best


def invert(built, data: Tensor, solver_id: str | None = None, iters: int = 50,
           tol: float = 1e-12) -> tuple[Tensor, int]:
    """(z [N, *data_shape], network evaluations) for data [N, *data_shape] in data units."""
    shape = tuple(built.network.data_shape)
    data = torch.as_tensor(data, dtype=torch.float64)
    if tuple(data.shape[1:]) != shape:
        raise PipelineError(f"data has shape {list(data.shape)}; the network makes "
                            f"[N, {', '.join(map(str, shape))}]", "--data")
    if not bool(torch.isfinite(data).all()):
        raise PipelineError("data holds NaN or Inf", "--data")
    b = inversion_branch(built, solver_id)
    den, solver = built.denoiser(b), built.solvers[b.solver]
    device, dtype = built.device(), built.settings.torch_dtype()
    configure = getattr(built.network, "configure", None)
    if configure is not None:  # networks that compute in their own precision (diffusers)
        from .pipeline import DTYPES, HALF
        st = built.settings
        configure(DTYPES[st.dtype] if st.dtype in HALF else None, getattr(st, "max_batch", None))
    ts = solver.times_for(den)
    target = to_model_units(built.network, data).to(device=device, dtype=dtype)
    den.nfe = 0
    gen = branch_generator(built.settings.seed, b.solver)
    ctx = SolveContext(model=den, randn_like=lambda x: torch.randn(
        x.shape, generator=gen, dtype=torch.float64).to(x))
    x = target.clone()
    with torch.no_grad():
        if solver.denoise_final:
            x = _solve_state(den, target, ts[-1], iters, tol)
        for step in solver.sample(ctx, x, torch.flip(ts, [0])):
            x = step.x
    if not bool(torch.isfinite(x).all()):
        raise PipelineError("the inversion diverged (NaN or Inf)", f"node {b.solver!r}")
    return (x / built.process.prior_std).cpu(), den.nfe


__all__ = ["invert", "inversion_branch"]

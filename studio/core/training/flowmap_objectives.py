"""Training objectives for flow maps Phi(x_t, t, s) (objective ``target`` ids below).

Notation: x_t = alpha_t x0 + sigma_t eps; time runs from t_min (data) to t_max (noise); the
model M jumps M.jump(x, t, s) and, in the velocity parameterization, outputs the average velocity
U(x, t, s) = (Phi(x, t, s) - x) / (s - t) (``studio.core.nn.flowmap``). ``sg`` is stop-gradient:
the current weights, detached (Song & Dhariwal 2023 drop the EMA target network; so do we).
The velocity v at (x_t, t) is the conditional one, alpha'_t x0 + sigma'_t eps (its mean given x_t
is the PF-ODE velocity), or a teacher's PF-ODE velocity when a teacher pipeline is given.

consistency-training       Song, Dhariwal, Chen & Sutskever 2023 ("Consistency Models", CT) with
    Song & Dhariwal 2023 ("Improved Techniques for Training Consistency Models"): the consistency
    function f(x, t) = Phi(x, t, t_min); on a Karras grid in r = sigma / alpha (rho = 7, from
    t_min to t_max, or to r = 80 where alpha(t_max) = 0) of N(k)
    points, N doubling from 10 to ``cm_steps`` over training,
        lambda(r_i) d(f(x_{t_{i+1}}, t_{i+1}), sg f(x_{t_i}, t_i)),   same x0 and eps,
    with the pseudo-Huber metric d(a, b) = sqrt(|a - b|^2 + c^2) - c, c = 0.00054 sqrt(dim),
    lambda = 1 / (r_{i+1} - r_i) and i drawn with probability proportional to the lognormal
    (P_mean -1.1, P_std 2.0) mass of [log r_i, log r_{i+1}].
consistency-distillation   Song et al. 2023 (CD): the same loss on a fixed grid of ``cm_steps``
    points with i uniform and lambda = 1, the earlier point taken by the teacher's ODE solver
    from x_{t_{i+1}}: sg f(solve(x_{t_{i+1}}, t_{i+1} -> t_i), t_i). Needs a teacher.
ctm    Kim, Lai et al. 2023 ("Consistency Trajectory Models"): t, then s ~ U[t_min, t] and
    u ~ U[s, t]; soft consistency matching, both sides carried to t_min by sg Phi:
        |sg Phi(Phi(x_t, t, s), s, t_min) - sg Phi(sg Phi(solve(x_t, t -> u), u, s), s, t_min)|^2
    plus ``dsm_weight`` times the denoising loss of the diagonal D(x_t, t, t) against x0. Without
    a teacher the step t -> u is the model's own sg jump (self-distillation: the composition
    law, anchored by the denoising term). The GAN term of the paper is not included.
shortcut   Frans, Hafner, Levine & Abbeel 2024 ("One Step Diffusion via Shortcut Models"): a
    fraction ``jump_fraction`` of the batch learns self-consistency for step sizes 2d with
    2d = (t_max - t_min) / 2^j, j < ``shortcut_levels``, t on the grid of 2d:
        |U(x_t, t, t - 2d) - sg (U(x_t, t, t - d) + U(x', t - d, t - 2d)) / 2|^2,
        x' = sg Phi(x_t, t, t - d);
    the rest flow matching on the diagonal, |U(x_t, t, t) - v|^2.
meanflow   Geng, Deng, Bai, Kolter & He 2025 ("Mean Flows for One-step Generative Modeling"):
    s = t for a fraction 1 - ``jump_fraction`` of the batch, else (s, t) the sorted pair of two
    draws; the MeanFlow identity U = v - (t - s) dU/dt, dU/dt = v . grad_x U + d_t U (one JVP
    with tangent (v, 1)), regressed with adaptive weight 1 / (|err|^2 + 1e-3)^p (p =
    ``meanflow_p``, 1 in the paper; |.|^2 summed over the item):
        sg(w) |U(x_t, t, s) - sg(v - (t - s) dU/dt)|^2.
flow-map-matching   Boffi, Albergo & Vanden-Eijnden 2024 ("Flow Map Matching"): for any pair
    (t, s) (either order), y = Phi(x_t, t, s) carried back by the map must move with the
    velocity at x_t and return to it:
        |d/du Phi(y, s, u)|_{u=t} - v|^2 + |Phi(y, s, t) - x_t|^2
    plus ``dsm_weight`` times the tangent condition |U(x_t, t, t) - v|^2.

Every loss vanishes at the exact flow map when v and the solve are exact (a teacher with an exact
flow map: ``gaussian`` network, ``flow-map`` solver), except consistency training's, whose
pairs do not share a trajectory, and the data terms (CTM's denoising term, flow matching against
the conditional velocity), whose minimum is the conditional variance.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..parameterization import Coeffs, to_x0_eps
from .config import FLOW_TARGETS, ObjectiveConfig
from .objectives import resolved_t_sampling

#: the objective ids (``objective.target`` values) that train a flow map
FLOW_OBJECTIVES = FLOW_TARGETS
#: objectives that cannot run without a teacher
NEEDS_TEACHER = ("consistency-distillation",)
#: objectives that need the velocity parameterization (they read U directly)
NEEDS_VELOCITY = ("shortcut", "meanflow", "flow-map-matching")
CM_S0, R_MIN, R_MAX, RHO = 10, 0.002, 80.0, 7.0


def check_flow_map_task(cfg, arch, teacher, data, where: str) -> None:
    """A flow-map objective needs an architecture with the second time embedding, the
    parameterization its loss reads, its teacher where required, and a teacher that fits."""
    from ..errors import StudioError
    obj = cfg.objective
    if not getattr(arch, "flow_map", False):
        raise StudioError(f"objective {obj.target!r} trains a flow map: set architecture.params."
                          "flow_map to true (the second time embedding)", f"{where}: architecture")
    if obj.target in NEEDS_VELOCITY and obj.flow_parameterization != "velocity":
        raise StudioError(f"objective {obj.target!r} reads the average velocity: set "
                          "flow_parameterization to velocity", f"{where}: objective")
    if obj.target in NEEDS_TEACHER and teacher is None:
        raise StudioError(f"objective {obj.target!r} distils a teacher: set objective.teacher "
                          "to a pipeline file", f"{where}: objective.teacher")
    if teacher is not None:
        if tuple(teacher.data_shape) != tuple(data.shape):
            raise StudioError(f"the teacher's data shape {list(teacher.data_shape)} is not the "
                              f"data's {list(data.shape)}", f"{where}: objective.teacher")
        if cfg.conditional and teacher.num_classes == 0:
            raise StudioError("a class-conditional student needs a class-conditional teacher",
                              f"{where}: objective.teacher")


def _view(v: Tensor, like: Tensor) -> Tensor:
    return v.to(like.device, like.dtype).reshape((like.shape[0],) + (1,) * (like.ndim - 1))


def _msq(d: Tensor) -> Tensor:
    """Per-sample mean square."""
    return d.pow(2).flatten(1).mean(1)


class _Frozen:
    """The model with its weights detached (sg): differentiable in its inputs only."""

    def __init__(self, model):
        self.model = model
        self.params = {k: v.detach() for k, v in model.named_parameters()}

    def __getattr__(self, name):
        method = getattr(self.model, name)
        if not self.params:
            return method

        def call(*args, **kwargs):
            return torch.func.functional_call(_Dispatch(self.model, name), {
                f"m.{k}": v for k, v in self.params.items()}, args, kwargs)
        return call


class _Dispatch(torch.nn.Module):
    def __init__(self, m, name):
        super().__init__()
        self.m, self.name = m, name

    def forward(self, *args, **kwargs):
        return getattr(self.m, self.name)(*args, **kwargs)


class FlowMapObjective:
    """``loss(model, x0, eps, t, labels)`` for one of :data:`FLOW_OBJECTIVES`; extra randomness
    (target times, groups) from ``gen`` so that training stays reproducible."""

    def __init__(self, cfg: ObjectiveConfig, process, gen: torch.Generator, teacher=None,
                 total_steps: int = 1):
        self.cfg, self.process, self.gen, self.teacher = cfg, process, gen, teacher
        self.kind = cfg.target
        self.t_sampling = resolved_t_sampling(cfg, process)
        self.weighting = "none"
        self.total_steps = max(int(total_steps), 1)
        #: the optimisation step (the consistency-training curriculum reads it)
        self.step = 0
        self.lo, self.hi = float(process.t_min), float(process.t_max)

    # -- times ---------------------------------------------------------------------------------
    def sample_times(self, n: int, gen: torch.Generator) -> Tensor:
        from .objectives import Objective
        return Objective(self.cfg, self.process).sample_times(n, gen)

    def _uniform(self, n: int) -> Tensor:
        return torch.rand(n, generator=self.gen, dtype=torch.float64)

    def cm_steps(self) -> int:
        """Grid size N: fixed for distillation, the improved-CT doubling curriculum otherwise."""
        s1 = self.cfg.cm_steps or (18 if self.kind == "consistency-distillation" else 1280)
        if self.kind == "consistency-distillation":
            return s1
        k_per = max(1, math.floor(self.total_steps / (math.log2(max(s1 // CM_S0, 1)) + 1)))
        return min(CM_S0 * 2 ** (self.step // k_per), s1) + 1

    def karras_grid(self, n: int) -> tuple[Tensor, Tensor]:
        """n times from t_min up, Karras-spaced in r = sigma / alpha; returns (t, r)."""
        p = self.process
        r_of = lambda t: float(p.sigma(torch.tensor(t, dtype=torch.float64))  # noqa: E731
                               / p.alpha(torch.tensor(t, dtype=torch.float64)))
        r_lo = max(r_of(self.lo), R_MIN)
        # up to the process's own t_max; where alpha(t_max) = 0 (rectified flow) up to r = R_MAX
        # instead: x0 and the velocity of an eps- or v-teacher are undefined at pure noise
        top = float(p.alpha(torch.tensor(self.hi, dtype=torch.float64)))
        r_hi = r_of(self.hi) if top > 0 else R_MAX
        i = torch.linspace(0, 1, n, dtype=torch.float64)
        r = (r_lo ** (1 / RHO) + i * (r_hi ** (1 / RHO) - r_lo ** (1 / RHO))) ** RHO
        t = torch.clamp(p.t_of_logsnr(-2.0 * torch.log(r)), self.lo, self.hi)
        t[0] = self.lo
        if top > 0:
            t[-1] = self.hi
        r[0] = r_of(self.lo)
        return t, r

    # -- helpers -------------------------------------------------------------------------------
    def _noised(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        a, s = self.process.alpha(t), self.process.sigma(t)
        return _view(a, x0) * x0 + _view(s, x0) * eps

    def _velocity(self, x_t: Tensor, x0: Tensor, eps: Tensor, t: Tensor, labels) -> Tensor:
        if self.teacher is not None:
            return self.teacher.velocity(x_t, t, labels)
        return _view(self.process.dalpha(t), x0) * x0 + _view(self.process.dsigma(t), x0) * eps

    def _groups(self, b: int) -> Tensor:
        """Group ids [b]: samples of a group share their time pair (one teacher solve each)."""
        g = max(1, min(self.cfg.groups, b))
        return torch.arange(b) * g // b

    def _solve(self, model, x: Tensor, t: Tensor, u: Tensor, labels) -> Tensor:
        """The teacher's solve t -> u per group of equal (t, u); the model's sg jump without one."""
        if self.teacher is None:
            with torch.no_grad():
                return model.jump(x, t, u, labels)
        out = x.clone()
        keys = torch.stack([t, u], 1)
        uniq, inv = torch.unique(keys, dim=0, return_inverse=True)
        for k, (a, b) in enumerate(uniq.tolist()):
            idx = (inv == k).nonzero().flatten().to(x.device)
            lab = labels[idx] if labels is not None else None
            out[idx] = self.teacher.solve(x[idx], a, b, lab)
        return out

    def _huber(self, d: Tensor) -> Tensor:
        c = 0.00054 * math.sqrt(d[0].numel())
        return torch.sqrt(d.pow(2).flatten(1).sum(1) + c * c) - c

    # -- the losses ----------------------------------------------------------------------------
    def loss(self, model, x0: Tensor, eps: Tensor, t: Tensor, labels: Tensor | None) -> Tensor:
        fn = getattr(self, "_" + self.kind.replace("-", "_"))
        return fn(model, x0, eps, t.to(torch.float64), labels)

    def _consistency(self, model, x0, eps, labels, distill: bool) -> Tensor:
        b = x0.shape[0]
        grid_t, grid_r = self.karras_grid(self.cm_steps())
        n = len(grid_t)
        if distill:
            i = torch.randint(0, n - 1, (b,), generator=self.gen)
            lam = torch.ones(b, dtype=torch.float64)
        else:
            lr = torch.log(grid_r.clamp_min(1e-300))
            cdf = torch.erf((lr - (-1.1)) / (math.sqrt(2.0) * 2.0))
            probs = (cdf[1:] - cdf[:-1]).clamp_min(0) + 1e-12
            i = torch.multinomial(probs, b, replacement=True, generator=self.gen)
            lam = 1.0 / (grid_r[i + 1] - grid_r[i])
        t_hi, t_lo = grid_t[i + 1], grid_t[i]
        end = torch.full_like(t_hi, self.lo)
        x_hi = self._noised(x0, eps, t_hi)
        if distill:
            x_lo = self._solve(model, x_hi, t_hi, t_lo, labels)
        else:
            x_lo = self._noised(x0, eps, t_lo)
        pred = model.jump(x_hi, t_hi, end, labels)
        with torch.no_grad():
            target = _Frozen(model).jump(x_lo, t_lo, end, labels)
        per = self._huber(pred - target)
        return (lam.to(per) * per).mean()

    def _consistency_training(self, model, x0, eps, t, labels):
        return self._consistency(model, x0, eps, labels, distill=False)

    def _consistency_distillation(self, model, x0, eps, t, labels):
        return self._consistency(model, x0, eps, labels, distill=True)

    def _ctm(self, model, x0, eps, t, labels):
        b = x0.shape[0]
        grp = self._groups(b)
        g = int(grp.max()) + 1
        t = self.sample_times(g, self.gen)[grp]
        s = (self.lo + (t - self.lo) * self._uniform(g)[grp])
        u = s + (t - s) * self._uniform(g)[grp]
        end = torch.full_like(t, self.lo)
        x_t = self._noised(x0, eps, t)
        frozen = _Frozen(model)
        x_u = self._solve(model, x_t, t, u, labels)
        with torch.no_grad():
            target = frozen.jump(frozen.jump(x_u, u, s, labels), s, end, labels)
        est = frozen.jump(model.jump(x_t, t, s, labels), s, end, labels)
        loss = _msq(est - target)
        if self.cfg.dsm_weight > 0:
            loss = loss + self.cfg.dsm_weight * _msq(self._denoised(model, x_t, t, labels) - x0)
        return loss.mean()

    def _denoised(self, model, x_t: Tensor, t: Tensor, labels) -> Tensor:
        """The x0 the diagonal prediction D(x_t, t, t) implies."""
        p = self.process
        c = Coeffs(*(_view(v, x_t) for v in p.coeffs(t)))
        return to_x0_eps(model.parameterization, model(x_t, t, labels), x_t, c)[0]

    def _shortcut(self, model, x0, eps, t, labels):
        b = x0.shape[0]
        n_sc = int(round(self.cfg.jump_fraction * b))
        x_t = self._noised(x0, eps, t)
        v = self._velocity(x_t, x0, eps, t, labels)
        fm = _msq(model.average_velocity(x_t[n_sc:], t[n_sc:], t[n_sc:],
                                         None if labels is None else labels[n_sc:]) - v[n_sc:])
        if n_sc == 0:
            return fm.mean()
        levels = self.cfg.shortcut_levels
        j = torch.randint(0, levels, (n_sc,), generator=self.gen)
        two_d = (self.hi - self.lo) / 2.0 ** j.to(torch.float64)
        m = torch.floor(self._uniform(n_sc) * 2.0 ** j.to(torch.float64)) + 1
        ts = (self.lo + two_d * m).clamp(max=self.hi)
        d, lab = two_d / 2, None if labels is None else labels[:n_sc]
        xs = self._noised(x0[:n_sc], eps[:n_sc], ts)
        with torch.no_grad():
            u1 = model.average_velocity(xs, ts, ts - d, lab)
            x_mid = xs + _view(-d, xs) * u1
            u2 = model.average_velocity(x_mid, ts - d, ts - 2 * d, lab)
            target = 0.5 * (u1 + u2)
        sc = _msq(model.average_velocity(xs, ts, ts - 2 * d, lab) - target)
        return torch.cat([sc, fm]).mean()

    def _meanflow(self, model, x0, eps, t, labels):
        b = x0.shape[0]
        t2 = self.sample_times(b, self.gen)
        hi, lo = torch.maximum(t, t2), torch.minimum(t, t2)
        jump = self._uniform(b) < self.cfg.jump_fraction
        t, s = hi, torch.where(jump, lo, hi)
        x_t = self._noised(x0, eps, t)
        v = self._velocity(x_t, x0, eps, t, labels)

        def u_fn(z, tt):
            return model.average_velocity(z, tt, s, labels)
        u, dudt = torch.func.jvp(u_fn, (x_t, t), (v, torch.ones_like(t)))
        target = (v - _view(t - s, v) * dudt).detach()
        err = (u - target).pow(2).flatten(1).sum(1)          # |.|^2 over the item, as the paper
        w = 1.0 / (err.detach() + 1e-3) ** self.cfg.meanflow_p
        return (w * err).mean()

    def _flow_map_matching(self, model, x0, eps, t, labels):
        b = x0.shape[0]
        s = self.sample_times(b, self.gen)
        x_t = self._noised(x0, eps, t)
        v = self._velocity(x_t, x0, eps, t, labels)
        y = model.jump(x_t, t, s, labels)
        back, dback = torch.func.jvp(lambda uu: model.jump(y, s, uu, labels), (t,),
                                     (torch.ones_like(t),))
        loss = _msq(dback - v) + _msq(back - x_t)
        if self.cfg.dsm_weight > 0:
            loss = loss + self.cfg.dsm_weight * _msq(model.average_velocity(x_t, t, t, labels) - v)
        return loss.mean()

"""IR-SDE restoration (Luo, Gustafsson, Zhao, Sjolund & Schon 2023, "Image Restoration with
Mean-Reverting Stochastic Differential Equations"), with the exact denoiser of an analytic prior.

The forward SDE reverts a clean image x_0 to the degraded one, mu:

    dx = theta_t (mu - x) dt + sigma_t dW,   x_t = mu + alpha_t (x_0 - mu) + sigma_t eps,

alpha = e^{-thetabar}, sigma = lam sqrt(1 - e^{-2 thetabar}) (the ``ir-sde`` process, built from
this node's ``lam``, ``theta_max`` and ``theta_schedule``). Here mu = A^+ y, the measurement placed
in data space (inpainting: y with the hidden entries zeroed; denoising, i.e. inpainting with an
all-ones mask: y itself; super-resolution: the upsampled low-resolution image, as in the paper).
Restoration runs the reverse SDE (or its PF-ODE) from x_1 = mu + sigma_1 z, the degraded image plus
noise, to t_min. With z = x - mu the process is the studio's affine ``ir-sde`` process (whose mu is
0) on z_0 = x_0 - mu, so every solver runs unchanged on z (``mrs``, the seed paper's fast sampler,
is written for exactly this process), and the reverse process samples x_0 from the distribution the
network models given mu: the POSTERIOR p(x_0 | y) when the pairs (x_0, y) come from the prior and
the measurement model. (Starting from mu + sigma_1 z drops the term alpha_1 (x_0 - mu) of x_1:
alpha_1 = e^{-theta_max}, 0.25% at the default theta_max = 6.)

**Exact denoiser.** Luo et al. train a network on mu; the studio computes its ideal output for an
analytic prior instead. For a ``gmm`` (or ``gaussian``) prior and y = A x + sigma_y n the posterior
is again a Gaussian mixture (:func:`studio.core.inverse.posterior.gmm_posterior`: weights
w'_k ∝ w_k N(y; A m_k, A C_k A^T + sigma_y^2 I), Kalman-updated means m'_k and covariances C'_k);
for an ``empirical`` prior it is the points reweighted, w'_i ∝ N(y; A x_i, sigma_y^2 I) (sigma_y > 0
needed). Under the mean-reverting kernel the denoiser of z_t is that mixture's, shifted by -mu:

    E[x_0 | x_t, y] = mu + sum_k r_k(z_t) (m'_k - mu + alpha C'_k (alpha^2 C'_k + sigma^2 I)^-1
                                          (z_t - alpha (m'_k - mu))),
    r_k(z_t) ∝ w'_k N(z_t; alpha (m'_k - mu), alpha^2 C'_k + sigma^2 I),

points being components with C'_i = 0. One evaluation counts one NFE.

**Why a trained model cannot stand in for it.** The score of p_t(x | mu) needs a network that sees
mu: an unconditional prior network gives grad log p_t(x), and the missing term grad log p(mu | x_t)
is intractable (what DPS, PiGDM and the others approximate). IR-SDE's answer is a network trained
on (x_0, mu) pairs per degradation; this kind therefore refuses a trained unconditional network,
with an error saying so.

**In a pipeline.** The branch's own ir-sde process drives it, whatever the pipeline's process node
(so IR-SDE runs beside the other inverse methods, which share that node): the run's prior sample
x_T = prior_std z becomes x_1 = mu + sigma_1 z (:meth:`IRSDERestore.start_state`, the first state
the views show), the time grid is the solver's on the ir-sde process, and the states,
x0-predictions and the final sample are reported as mu + z.
``run.start`` does not apply (the start is the noisy degraded image).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import ParamError, StudioError
from ..inverse.guidance import InverseGuidance
from ..inverse.posterior import gmm_posterior
from ..params import param
from ..registry import GUIDANCE, PROCESSES

#: components x D x D above this are refused (the posterior mixture is held densely)
MAX_DENSE = 50_000_000
#: the analytic priors whose exact posterior this kind computes
ANALYTIC = ("gmm", "gaussian", "empirical")


def prior_mixture(network):
    """(weights [K], means [K, D], covs [K, D, D] or None for points) of an analytic prior."""
    kind = getattr(network, "id", "")
    if kind == "gmm":
        return np.exp(network._logw), network._m, network.covariance_matrices()
    if kind == "gaussian":
        cov = (network._u * network._lam) @ network._u.T
        return np.ones(1), np.asarray(network._mu, np.float64)[None], cov[None]
    if kind == "empirical":
        pts = np.asarray(network.points, np.float64)
        return np.full(len(pts), 1.0 / len(pts)), pts.reshape(len(pts), -1), None
    raise StudioError(
        f"IR-SDE restoration needs a network conditioned on the degraded image (Luo et al. 2023 "
        f"train one per degradation); an unconditional {kind or type(network).__name__!r} "
        f"network cannot give the score of p(x_t | mu). The studio computes it exactly for "
        f"{', '.join(ANALYTIC)} priors: use one of those, or DPS / PiGDM / DDNM with this network",
        "guidance ir-sde")


class _Points:
    """Weighted points (an empirical prior's posterior, shifted): the exact denoiser under any
    affine process, E[z_0 | z_t] = sum_i softmax_i(log w_i - |z_t - a q_i|^2 / 2 s^2) q_i."""

    def __init__(self, logw: np.ndarray, q: np.ndarray):
        self.logw, self.q = torch.as_tensor(logw), torch.as_tensor(q)

    #: samples per block (memory: block x points)
    BLOCK = 64

    def predict(self, z: Tensor, t: Tensor, process) -> Tensor:
        a = process.alpha(t).to(z.dtype).reshape(-1, 1).expand(len(z), 1)
        s = process.sigma(t).to(z.dtype).reshape(-1, 1).expand(len(z), 1)
        q, logw = self.q.to(z), self.logw.to(z)
        qq = (q * q).sum(1)
        out = []
        for i in range(0, len(z), self.BLOCK):
            zb, ab, sb = z[i:i + self.BLOCK], a[i:i + self.BLOCK], s[i:i + self.BLOCK]
            d2 = (zb * zb).sum(1, keepdim=True) - 2 * ab * zb @ q.T + (ab * ab) * qq
            out.append(torch.softmax(logw - 0.5 * d2 / (sb * sb), dim=1) @ q)
        return torch.cat(out)


@GUIDANCE.register("ir-sde")
@dataclass
class IRSDERestore(InverseGuidance):
    """Restoration by the mean-reverting SDE toward mu = A^+ y (Luo et al. 2023) with the exact
    posterior denoiser of an analytic (gmm, gaussian, empirical) prior; any solver, e.g. MRS."""

    title = "IR-SDE (mean-reverting SDE restoration)"
    lam: float = param(1.0, "the ir-sde process's stationary std lambda (noise about mu)", min=1e-6)
    theta_max: float = param(6.0, "the ir-sde process's thetabar(1): alpha(1) = e^{-theta_max}",
                             min=1e-3)
    theta_schedule: str = param("linear", "theta_t of the ir-sde process: constant or linear in t "
                                          "(theta_max 6: sigma(t_min) = 0.0035 lambda if linear, "
                                          "0.11 lambda if constant)",
                                choices=("constant", "linear"))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.process = PROCESSES.get("ir-sde")(lam=self.lam, theta_max=self.theta_max,
                                               theta_schedule=self.theta_schedule)
        self._mix = None

    def bind(self, network, process=None) -> None:
        super().bind(network, process)
        if not self.op.has_pinv:
            raise ParamError(f"operator {self.op.id!r} has no pseudo-inverse to place the "
                             f"measurement in data space (mu = A^+ y)", "operator")
        w, m, c = prior_mixture(network)
        if c is not None and c.size > MAX_DENSE:
            raise ParamError(f"the posterior mixture would hold {c.size} covariance entries "
                             f"(K = {len(w)}, D = {m.shape[1]}); too large for the exact "
                             f"posterior", "operator")
        if c is None and self.sigma_y <= 0:
            raise ParamError("an empirical prior needs sigma_y > 0 (its exact posterior is "
                             "otherwise only the points that match y exactly)", "sigma_y")
        self._mix = (w, m, c)
        self._a = self.op.dense().numpy()
        self._post: dict = {}

    # -- the exact posterior -------------------------------------------------------------------
    def _posterior(self, y: Tensor, mu: Tensor):
        """The denoiser of p(x_0 - mu | y) for one measurement y [*out_shape], mu [D]."""
        key = (y.numpy().tobytes(), mu.numpy().tobytes())
        if key not in self._post:
            from ..networks.gmm import GMM
            w, m, c = self._mix
            yv, muv = y.reshape(-1).numpy(), mu.reshape(-1).numpy()
            if c is None:
                r = yv[None] - m @ self._a.T
                logw = np.log(w) - 0.5 * (r * r).sum(1) / self.sy ** 2
                self._post[key] = _Points(logw - logw.max(), m - muv)
            else:
                post = gmm_posterior(m, c, w, self._a, yv, self.sy)
                params = post.network_params()
                params["means"] = (post.means - muv).tolist()
                self._post[key] = GMM(**params)
            if len(self._post) > 64:                      # one per measurement: bounded
                self._post.pop(next(iter(self._post)))
        return self._post[key]

    def mu_like(self, x: Tensor) -> Tensor:
        """mu = A^+ y for the batch, [B, *data_shape]."""
        return self.op.pinv(self.y_like(x)).to(x.dtype)

    def z_x0(self, z: Tensor, t, mu: Tensor, y: Tensor) -> Tensor:
        """E[z_0 | z_t] under the exact posterior, z = x - mu [B, *data_shape] at ir-sde time t."""
        if self._mix is None:
            raise StudioError("guidance ir-sde was not bound to a network", "guidance ir-sde")
        flat = z.reshape(z.shape[0], -1).to(torch.float64)
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
        ys = y.reshape(y.shape[0], -1).to(torch.float64).cpu()
        mus = mu.reshape(mu.shape[0], -1).to(torch.float64).cpu()
        groups = torch.unique(torch.cat([ys, mus], 1), dim=0, return_inverse=True)[1]
        out = torch.empty_like(flat)
        for g in range(int(groups.max()) + 1):
            idx = (groups == g).nonzero().flatten()
            i0 = int(idx[0])
            post = self._posterior(ys[i0].reshape(self.op.out_shape), mus[i0])
            tt = t if t.numel() == 1 else t[idx]
            out[idx] = post.predict(flat[idx], tt.reshape(-1) if tt.numel() > 1 else tt[0],
                                    self.process).to(flat.dtype)
        return out.reshape(z.shape).to(z.dtype)

    def guide(self, net, kind, x, t, coeffs, labels):
        """x0 = mu + E[z_0 | z_t = x - mu] at ir-sde time t (``net`` is not used)."""
        mu = self.mu_like(x)
        return "x0", mu + self.z_x0(x - mu, t, mu, self.y_like(x))

    def branch_process(self, process):
        return self.process

    # -- the run: the solver on z = x - mu under the ir-sde process -----------------------------
    def start_state(self, ctx, x: Tensor, ts: Tensor) -> Tensor:
        """x_1 = mu + sigma_1 z: the run's prior sample x_T = prior_std z rescaled to the ir-sde
        prior, about the degraded image."""
        from ..processes.base import Process
        outer = ctx.model
        if self._mix is None:                         # used without Pipeline.build
            self.bind(outer.network, outer.process)
        if type(outer.process).prior_sample is not Process.prior_sample:
            raise StudioError(f"IR-SDE restoration rescales a Gaussian prior sample; the "
                              f"{outer.process.id!r} process's prior is not Gaussian",
                              "guidance ir-sde")
        return self.mu_like(x) + x * (self.process.prior_std / outer.process.prior_std)

    def drive(self, solver, ctx, x: Tensor, ts: Tensor):
        """The solver on z = x - mu (x from :meth:`start_state`) under the ir-sde process."""
        from ..solvers.base import SolveContext, Step
        outer = ctx.model
        full = solver.times_for(outer)
        if len(ts) != len(full) or abs(float(ts[0]) - float(full[0])) > 1e-12:
            raise StudioError("IR-SDE restoration starts from the noisy degraded image "
                              "mu + lam z: remove run.start", "run.start")
        mu, y = self.mu_like(x), self.y_like(x)
        zmodel = _ZDenoiser(self, outer, mu, y)
        zctx = SolveContext(model=zmodel, randn_like=ctx.randn_like)
        zts = solver.times_for(zmodel)
        z = x - mu
        held = None
        for st in solver.sample(zctx, z, zts):
            if held is not None:
                yield held
            t_i = float(st.t) if st.t is not None else float(zts[st.i])
            held = Step(st.i, st.x + mu, None if st.x0 is None else st.x0 + mu, t=t_i,
                        total=st.total)
            last = st
        if held is None:
            return
        if solver.denoise_final:                     # the final denoise, on the ir-sde process
            from ..model import Prediction
            pred = last.final if last.final is not None else zmodel(last.x, held.t)
            tt = torch.as_tensor(held.t, dtype=torch.float64)
            held.final = Prediction(held.x, tt, zmodel.coeffs(tt, held.x), "x0", pred.x0 + mu)
        yield held


@functools.cache
def _zdenoiser_class():
    from ..model import Denoiser, Prediction
    from ..processes.base import as_time

    class ZDenoiser(Denoiser):
        """The denoiser a solver sees on z = x - mu: the ir-sde process, the exact posterior's
        x0-prediction; evaluations count on the pipeline's denoiser."""

        def __init__(self, g: IRSDERestore, outer, mu: Tensor, y: Tensor):
            self.network, self.process, self.guidance = outer.network, g.process, g
            self.labels, self._adapt, self.outer, self.mu, self.y = outer.labels, None, outer, mu, y

        @property
        def nfe(self) -> int:
            return self.outer.nfe

        @nfe.setter
        def nfe(self, value: int) -> None:
            self.outer.nfe = value

        def __call__(self, z: Tensor, t) -> Prediction:
            t = as_time(t, z)
            self.outer.nfe += 1
            c = self.coeffs(t, z)
            return Prediction(z, t, c, "x0", self.guidance.z_x0(z, t, self.mu, self.y))

    return ZDenoiser


def _ZDenoiser(g, outer, mu, y):
    # studio.core.model imports the guidance package (which imports this module): build lazily
    return _zdenoiser_class()(g, outer, mu, y)

"""Every inverse-problem branch of a pipeline against the exact posterior (Gaussian-mixture prior).

For a ``gmm`` prior and a linear measurement the posterior is a Gaussian mixture known in closed
form (:mod:`studio.core.inverse.posterior`). :func:`exactness_report` samples each branch
(method) of a pipeline with ``n`` samples (rounded up to a multiple of a particle method's K)
and reports, per method: the sliced 2-Wasserstein distance to exact posterior samples, the same
for ``n`` fresh exact samples (the finite-sample floor) and their ratio, the error of the
posterior mean, the posterior's component weights as the samples give them (each sample assigned
to its most probable posterior component) against the exact weights, NFE and wall time. An
``exact score`` row runs the first branch's solver on the posterior's own exact denoiser: the
floor its discretisation sets. What the app's *Compare with the exact posterior* button shows,
and what a script can call.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch

from ..errors import StudioError
from ..metrics import sliced_wasserstein
from .guidance import InverseGuidance
from .posterior import GMMPosterior, posterior_of


def component_weights(xs: torch.Tensor, post: GMMPosterior, sample_w=None) -> np.ndarray:
    """The fraction of samples whose most probable posterior component is k, for each k (with
    ``sample_w`` [n] summing to 1: the weight of those samples)."""
    x = xs.reshape(len(xs), -1).to(torch.float64)
    logp = []
    for k, w in enumerate(post.weights):
        cov = torch.as_tensor(post.covs[k]) + 1e-9 * torch.eye(x.shape[1], dtype=torch.float64)
        d = torch.distributions.MultivariateNormal(torch.as_tensor(post.means[k]),
                                                   covariance_matrix=cov)
        logp.append(d.log_prob(x) + float(np.log(max(w, 1e-300))))
    a = torch.stack(logp, 1).argmax(1).numpy()
    if sample_w is not None:
        return np.bincount(a, weights=np.asarray(sample_w, dtype=np.float64).reshape(-1),
                           minlength=len(post.weights))
    return np.bincount(a, minlength=len(post.weights)) / len(x)


def _exact_score_row(built, branch, post, ref, floor, n, seed) -> dict:
    """The branch's solver on the posterior's own exact denoiser: the discretisation floor."""
    from ..model import Denoiser
    from ..params import build
    from ..registry import NETWORKS
    from ..runner import SamplingRun
    exact = build(NETWORKS.get("gmm"), post.network_params(), "exact posterior")
    z = torch.randn((n,) + tuple(built.network.data_shape),
                    generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    t0 = time.perf_counter()
    res = SamplingRun(Denoiser(exact, built.process), built.solvers[branch.solver],
                      z * built.process.prior_std, seed=seed, branch=branch.solver).run()
    xs = res.samples.reshape(n, -1)
    sw = float(sliced_wasserstein(xs, ref, n_projections=256, seed=0))
    cw = component_weights(xs, post)
    return {"method": "exact score", "branch": branch.solver, "sw": sw, "floor": floor,
            "ratio": sw / max(floor, 1e-12),
            "mean_err": float(np.linalg.norm(xs.mean(0).numpy() - post.mean)),
            "weights": cw.tolist(), "weights_err": float(np.abs(cw - post.weights).max()),
            "nfe": int(res.nfe), "seconds": time.perf_counter() - t0}


def exactness_report(doc: dict, n: int = 1000, seed: int = 0, base_dir: str | None = None
                     ) -> list[dict]:
    """Rows (dicts) for the exact posterior and every branch of the pipeline ``doc``."""
    from ..pipeline import Pipeline
    from ..runner import SamplingRun
    doc = copy.deepcopy(doc)
    built = Pipeline.from_dict(doc, base_dir, "comparison").build()
    net = built.network
    if not hasattr(net, "covariance_matrices"):
        raise StudioError(f"the exact posterior needs a Gaussian-mixture prior (a gmm network), "
                          f"not {net.id!r}", "comparison")
    rows, post, ref, floor = [], None, None, None
    for b in built.branches:
        g = built.guidance.get(b.guidance) if b.guidance else None
        if not isinstance(g, InverseGuidance):
            continue
        if g._y.shape != tuple(g.op.out_shape):
            raise StudioError("the comparison needs one measurement y for the whole batch",
                              f"node {b.guidance!r}.y")
        if post is None:
            post = posterior_of(net, g.op, g._y, g.sigma_y)
            ref = post.sample(4000, torch.Generator().manual_seed(seed + 1))
            exact = post.sample(n, torch.Generator().manual_seed(seed + 2))
            floor = float(sliced_wasserstein(exact, ref, n_projections=256, seed=0))
            rows.append({"method": "exact posterior", "branch": "", "sw": floor, "floor": floor,
                         "ratio": 1.0, "mean_err": float(np.linalg.norm(exact.mean(0).numpy()
                                                                        - post.mean)),
                         "weights": component_weights(exact, post).tolist(),
                         "weights_err": float(np.abs(component_weights(exact, post)
                                                     - post.weights).max()),
                         "nfe": 0, "seconds": 0.0})
            rows.append(_exact_score_row(built, b, post, ref, floor, n, seed))
        k = int(getattr(g, "particles", 1))
        m = -(-n // k) * k
        z = torch.randn((m,) + tuple(net.data_shape), generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)
        den = built.denoiser(b)
        t0 = time.perf_counter()
        res = SamplingRun(den, built.solvers[b.solver], z * built.process.prior_std, seed=seed,
                          branch=b.solver).run()
        sec = time.perf_counter() - t0
        xs = res.samples.reshape(m, -1)
        sw = float(sliced_wasserstein(xs, ref, n_projections=256, seed=0))
        cw = component_weights(xs, post)
        rows.append({"method": built.pipeline.nodes[b.guidance].kind, "branch": b.solver,
                     "sw": sw, "floor": floor, "ratio": sw / max(floor, 1e-12),
                     "mean_err": float(np.linalg.norm(xs.mean(0).numpy() - post.mean)),
                     "weights": cw.tolist(), "weights_err": float(np.abs(cw - post.weights).max()),
                     "nfe": int(res.nfe), "seconds": sec})
    if post is None:
        raise StudioError("no inverse-problem method in the pipeline", "comparison")
    for r in rows:
        r["exact_weights"] = post.weights.tolist()
    return rows


__all__ = ["exactness_report", "component_weights"]

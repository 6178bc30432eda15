"""The model a diagnostic runs on, built from a pipeline in the worker thread (Qt-free).

The pipeline's process, network and the guidance of its first solver branch make the denoiser;
data samples come from an analytic network (``sample``, an empirical network's points) or, for a
trained network, from a run of the pipeline's first solver.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch

from ...core.errors import ParamError
from ...core.model import Denoiser
from ...core.pipeline import Built, Pipeline


@dataclass
class Model:
    pipeline: Pipeline
    built: Built
    den: Denoiser

    @property
    def network(self):
        return self.built.network

    @property
    def process(self):
        return self.built.process

    @property
    def shape(self) -> tuple:
        return tuple(self.network.data_shape)

    @property
    def is_2d(self) -> bool:
        return self.shape == (2,)

    @property
    def exact(self) -> bool:
        """The network has its exact log-density (Gaussian mixtures, Gaussians)."""
        return hasattr(self.network, "log_prob")

    def differentiable(self) -> bool:
        """Whether the network's prediction carries gradients with respect to x (the exact
        divergence, Jacobians and curls need them). A network evaluated under ``no_grad`` gives
        a field whose network part is invisible to autograd: its results would be wrong."""
        x = torch.zeros((2,) + self.shape, dtype=torch.float64, requires_grad=True)
        t = torch.as_tensor(0.5 * (float(self.process.t_min) + float(self.process.t_max)),
                            dtype=torch.float64)
        with torch.enable_grad():
            try:
                y = self.network.predict(x, t, self.process, self.den.labels[:2]
                                         if self.den.labels is not None else None)
            except Exception:  # noqa: BLE001 - a probe; the computation itself will report
                return True
        return bool(y.requires_grad)

    def require_gradients(self, what: str) -> None:
        if not self.differentiable():
            raise ParamError(f"the {self.network.id} network is evaluated without gradients, so "
                             f"its {what} cannot be computed by automatic differentiation (it "
                             "would miss the network's own part); a network kind whose "
                             "predict() keeps gradients is needed", "network")

    def data(self, n: int, seed: int = 0, cancel=None) -> tuple[torch.Tensor, str]:
        """n data samples in the network's space and where they came from."""
        net = self.network
        if hasattr(net, "sample"):
            g = torch.Generator().manual_seed(int(seed))
            return net.sample(n, generator=g).to(torch.float64), f"{n} samples of the {net.id} model"
        if hasattr(net, "points"):
            pts = torch.as_tensor(np.asarray(net.points), dtype=torch.float64)[:n]
            return pts, f"{len(pts)} points of the empirical network"
        return self.samples(n, cancel)[-1], f"{n} samples of the pipeline's first solver"

    def samples(self, n: int, cancel=None, record: bool = False):
        """A run of the pipeline's first solver branch with ``n`` samples: (result, x) with x in
        the network's space (the last trajectory point when recorded, else the samples)."""
        if not self.built.branches:
            raise ParamError("the pipeline has no solver to draw samples with", "pipeline")
        self.pipeline.run.batch = int(n)
        run = next(iter(self.built.runs(record=record, cancel=cancel)))   # the first branch
        res = run.run()
        x = res.trajectory[-1] if record else res.samples
        return res, x.to(torch.float64)


def describe(pipe: Pipeline) -> str:
    (pid,), (nid,) = pipe.of_type("process"), pipe.of_type("network")
    return f"{pipe.nodes[nid].kind} network · {pipe.nodes[pid].kind} process"


def load(pipe: Pipeline) -> Model:
    """Build the pipeline (in the worker: a trained network loads its weights here)."""
    built = pipe.build()
    if built.branches:
        den = built.denoiser(built.branches[0])
    else:
        den = Denoiser(built.network, built.process, None, built.labels())
    return Model(pipe, built, den)


def log_times(process, n: int) -> np.ndarray:
    """n times from t_min to t_max, evenly spaced in log-SNR (where the dynamics happen); the
    ``logsnr`` schedule's grid, so processes whose log-SNR is infinite at an end work too."""
    from ...core.registry import SCHEDULES

    ts = SCHEDULES.get("logsnr")().times(process, max(int(n) - 1, 1)).numpy()[::-1].copy()
    return ts[np.isfinite(ts)]


def square_limits(x: np.ndarray, margin: float = 0.12):
    from ...core.diagnostics import auto_limits

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)[:, :2]
    x = x[np.isfinite(x).all(1)]
    if not len(x):
        return (-3.0, 3.0), (-3.0, 3.0)
    return auto_limits(x, margin)

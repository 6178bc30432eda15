"""The inverse-problem panel's model: one :class:`~.problem.Problem`, edited through methods that
emit what changed, so that every view (mask canvas, measurement, forms) observes it.

Slow work runs in the background (the job service's :class:`~studio.app.jobs.Loader`): listing the model library and loading a data set (an image
folder can take seconds); the measurement y is recomputed lazily when a view asks for it.
"""
from __future__ import annotations

import copy
import os

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from ...core.errors import StudioError
from ..document import UNSET
from ..jobs import Loader
from .problem import (DEFAULT_OP_PARAMS, METHODS, Problem, build_pipeline, default_mask,
                      export_pipeline, method_presets, operators_for, sr_factors)
from .sources import Prior, analytic_priors, cached_dataset, image_from_file, load_dataset, \
    model_priors, prior_sample


class InverseModel(QObject):
    priorsChanged = Signal()
    priorChanged = Signal()
    truthChanged = Signal()
    operatorChanged = Signal()
    maskChanged = Signal()
    measurementChanged = Signal()
    methodsChanged = Signal()
    loadingChanged = Signal(bool)
    failed = Signal(str, str)                 # title, message

    def __init__(self, parent=None, list_models: bool = True, active: bool = True):
        super().__init__(parent)
        self.priors: dict[str, Prior] = {p.key: p for p in analytic_priors()}
        first = next(iter(self.priors.values()))
        self.problem = Problem(first, np.zeros(first.data_shape), mask=default_mask(first))
        self.truth_source = "data"            # data | file | sample | point
        self.truth_index = 0
        self.loading = False
        self.data: np.ndarray | None = None   # the prior's data set (ground truths)
        self._initialised = False
        self._op = self._y = None
        self.op_error: str | None = None
        self._loader = Loader(self)
        self._gen = 0
        self._list_models = list_models
        self.active = False
        self.set_prior(first.key)
        if active:
            self.activate()

    def activate(self) -> None:
        """Start the slow work (loading the data, listing the model library): at once, or when
        the panel is first shown (the window's start-up does not pay for a hidden panel)."""
        if self.active:
            return
        self.active = True
        self.set_prior(self.prior.key)
        if self._list_models:
            self._start("models", model_priors)

    # -- background jobs ---------------------------------------------------------------------------
    def _start(self, name: str, fn) -> None:
        if name == "data":                    # a newer data request supersedes older ones
            self._gen += 1
        gen = self._gen
        self._loader.submit(fn, lambda result, error: self._job_done(name, gen, result, error))

    def _job_done(self, name: str, gen: int, result, error: str) -> None:
        if name == "models":
            if error:
                self.failed.emit("Cannot list the trained models", error)
            elif result:
                self.priors.update({p.key: p for p in result})
                self.priorsChanged.emit()
            return
        if gen != self._gen:
            return                            # a newer request superseded this one
        self._set_loading(False)
        if error:
            self.failed.emit("Cannot load the data", error)
            return
        self._data_ready(result)

    def wait(self, ms: int = 10000) -> bool:
        return self._loader.wait(ms)

    def _set_loading(self, on: bool) -> None:
        if on != self.loading:
            self.loading = on
            self.loadingChanged.emit(on)

    # -- prior and ground truth --------------------------------------------------------------------
    @property
    def prior(self) -> Prior:
        return self.problem.prior

    def set_prior(self, key: str) -> None:
        prior = self.priors[key]
        p = self.problem
        kind_changed = (prior.kind != p.prior.kind or prior.data_shape != p.prior.data_shape
                        or not self._initialised)
        self._initialised = True
        p.prior = prior
        p.prior_data = None
        p.holdout = None
        self.data = None
        if p.operator not in operators_for(prior):
            p.operator = "inpaint"
        factors = sr_factors(prior) if prior.kind == "image" else []
        if factors and p.op_params["super-resolution"].get("factor") not in factors:
            p.op_params["super-resolution"]["factor"] = factors[0]
        if kind_changed or p.mask is None:
            p.mask = default_mask(prior)
            p.truth = np.zeros(prior.data_shape)
            for m, preset in method_presets(prior.kind).items():
                p.method_params[m] = {**p.method_params.get(m, {}), **preset}
        self._invalidate()
        self.priorChanged.emit()
        self.operatorChanged.emit()
        self.maskChanged.emit()
        self.methodsChanged.emit()
        if not self.active:
            return
        if prior.dataset is None:
            if prior.network["kind"] == "gmm":
                self.truth_source = "sample"
                self.sample_truth(self.truth_index)
            else:                              # a trained model that names no data set
                self.truth_source = "file"
                self._set_truth(p.truth, "no data set recorded: open an image file"
                                if prior.kind == "image" else "click the plot to place the truth")
            return
        data = cached_dataset(prior.dataset)
        if data is not None:
            self._data_ready(data)
        else:
            self._set_loading(True)
            ds = prior.dataset
            self._start("data", lambda: load_dataset(ds))

    def _data_ready(self, data: np.ndarray) -> None:
        p = self.problem
        if tuple(data.shape[1:]) != tuple(p.prior.data_shape):
            self.failed.emit("Cannot use the data", f"items of shape {list(data.shape[1:])} do not "
                             f"match the prior's {list(p.prior.data_shape)}")
            return
        self.data = data
        p.prior_data = data if p.prior.empirical else None
        if self.truth_source in ("data", "sample") or not np.any(p.truth):
            self.set_truth_index(min(self.truth_index, len(data) - 1))
        else:
            self.methodsChanged.emit()

    def dataset_size(self) -> int:
        d = self.data
        return 0 if d is None or self.prior.dataset is None or self.loading else len(d)

    def set_truth_index(self, i: int) -> None:
        """Ground truth: item i of the prior's data set (or, for a mixture, sample seed i)."""
        self.truth_index = int(i)
        if self.prior.dataset is None:
            self.sample_truth(i)
            return
        if self.loading or self.data is None:
            return
        self.truth_source = "data"
        i = max(0, min(int(i), len(self.data) - 1))
        self._set_truth(self.data[i].astype(np.float64), f"item {i} of the "
                        f"{self.prior.dataset['kind']} data", holdout=i)

    def sample_truth(self, seed: int) -> None:
        try:
            x = prior_sample(self.prior, seed)
        except Exception as exc:  # noqa: BLE001 - a prior that cannot be sampled
            self.failed.emit("Cannot sample the prior", str(exc))
            return
        self.truth_source, self.truth_index = "sample", int(seed)
        self._set_truth(x, f"a sample of the prior (seed {seed})")

    def load_truth_file(self, path: str) -> bool:
        if self.prior.kind != "image":
            self.failed.emit("Cannot use an image", "the prior models points: pick an image prior")
            return False
        try:
            x = image_from_file(path, self.prior.data_shape, self.prior.value_range or (0.0, 1.0))
        except StudioError as exc:
            self.failed.emit("Cannot open the image", str(exc))
            return False
        self.truth_source = "file"
        self._set_truth(x, f"image file {os.path.basename(path)}")
        return True

    def set_truth_point(self, xy) -> None:
        x = np.array(self.problem.truth, dtype=np.float64).reshape(-1)
        x[:len(xy)] = np.asarray(xy, dtype=np.float64)[:len(x)]
        self.truth_source = "point"
        self._set_truth(x.reshape(self.prior.data_shape),
                        "the point (" + ", ".join(f"{v:.2f}" for v in x[:4]) + ")")

    def _set_truth(self, x: np.ndarray, label: str, holdout: int | None = None) -> None:
        p = self.problem
        p.truth, p.truth_label, p.holdout = np.asarray(x, dtype=np.float64), label, holdout
        self._invalidate()
        self.truthChanged.emit()
        self.methodsChanged.emit()           # readiness may have changed

    def set_leave_out(self, on: bool) -> None:
        self.problem.leave_out = bool(on)
        self.methodsChanged.emit()

    # -- operator and mask -------------------------------------------------------------------------
    def set_operator(self, kind: str) -> None:
        if kind == self.problem.operator:
            return
        self.problem.operator = kind
        self._invalidate()
        self.operatorChanged.emit()

    def set_op_param(self, name: str, value) -> None:
        params = self.problem.op_params.setdefault(self.problem.operator, {})
        if value is UNSET:
            params.pop(name, None)
            if name in DEFAULT_OP_PARAMS.get(self.problem.operator, {}):
                params[name] = DEFAULT_OP_PARAMS[self.problem.operator][name]
        else:
            params[name] = value
        self._invalidate()
        self.operatorChanged.emit()

    def set_sigma_y(self, value: float) -> None:
        self.problem.sigma_y = float(value)
        self._invalidate()

    @property
    def mask(self) -> np.ndarray:
        return self.problem.mask

    def paint(self, points, diameter: float, observed: bool) -> bool:
        """Set the mask under a brush of ``diameter`` pixels at image points (row, col) (float,
        pixel units: pixel (i, j) spans [i, i + 1) x [j, j + 1)) to observed (1) or missing (0)."""
        m = self.problem.mask
        if m is None or m.ndim != 2:
            return False
        h, w = m.shape
        rr, cc = np.mgrid[0:h, 0:w]
        hit = np.zeros_like(m, dtype=bool)
        r2 = (max(float(diameter), 1.0) / 2.0) ** 2
        for r, c in points:
            hit |= (rr + 0.5 - r) ** 2 + (cc + 0.5 - c) ** 2 <= r2
            i, j = int(np.floor(r)), int(np.floor(c))
            if 0 <= i < h and 0 <= j < w:
                hit[i, j] = True
        value = 1.0 if observed else 0.0
        if not np.any(m[hit] != value):
            return False
        m = m.copy()
        m[hit] = value
        self.set_mask(m)
        return True

    def set_mask(self, mask: np.ndarray) -> None:
        self.problem.mask = np.asarray(mask, dtype=np.float64)
        self._invalidate()
        self.maskChanged.emit()
        self.methodsChanged.emit()

    def fill_mask(self, observed: bool) -> None:
        self.set_mask(np.full_like(self.problem.mask, 1.0 if observed else 0.0))

    def invert_mask(self) -> None:
        self.set_mask(1.0 - self.problem.mask)

    def reset_mask(self) -> None:
        self.set_mask(default_mask(self.prior))

    # -- the measurement ---------------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._op = self._y = None
        self.op_error = None
        self.measurementChanged.emit()

    def operator(self):
        """The bound operator, or None (``op_error`` says why)."""
        if self._op is None and self.op_error is None:
            try:
                self._op = self.problem.build_operator()
            except StudioError as exc:
                self.op_error = str(exc)
        return self._op

    def y(self) -> np.ndarray | None:
        op = self.operator()
        if op is None:
            return None
        if self._y is None:
            self._y = self.problem.measure(op)
        return self._y

    def y_display(self) -> np.ndarray | None:
        """y drawn in data space: A^+ y (an in-place inpainting y is itself)."""
        op, y = self.operator(), self.y()
        if op is None or y is None:
            return None
        t = torch.as_tensor(y)[None]
        back = op.pinv(t) if op.has_pinv else op.adjoint(t)
        return back[0].numpy()

    def y_picture(self) -> tuple[np.ndarray | None, str, bool]:
        """What the measurement tile shows: (array, caption, in the data's value range). An image
        y is shown as it is (a low-resolution y at the same size, nearest-neighbour); a vector y
        as A^+ y, scaled to its own range."""
        y = self.y()
        if y is None:
            return None, "y: " + (self.op_error or "no measurement"), False
        if y.ndim >= 2:
            shape = "x".join(str(s) for s in y.shape[-2:])
            return y, f"y ({shape})", True
        return self.y_display(), f"y ({y.size} values) shown as A⁺y", False

    def truth_residual(self) -> float | None:
        """||y - A x|| of the ground truth itself: the level the noise sets."""
        op, y = self.operator(), self.y()
        if op is None:
            return None
        ax = op.forward(torch.as_tensor(self.problem.truth)[None])[0]
        return float(torch.linalg.vector_norm(op.measured(torch.as_tensor(y)[None])[0] - ax))

    # -- methods and sampler -----------------------------------------------------------------------
    def set_enabled(self, kind: str, on: bool) -> None:
        self.problem.enabled[kind] = bool(on)
        self.methodsChanged.emit()

    def set_method_param(self, kind: str, name: str, value) -> None:
        params = self.problem.method_params.setdefault(kind, {})
        if value is UNSET:
            params.pop(name, None)
        else:
            params[name] = value
        self.methodsChanged.emit()

    def set_solver(self, kind: str, params: dict | None = None) -> None:
        self.problem.solver = kind
        self.problem.solver_params = copy.deepcopy(params or {})
        self.methodsChanged.emit()

    def set_solver_param(self, name: str, value) -> None:
        if value is UNSET:
            self.problem.solver_params.pop(name, None)
        else:
            self.problem.solver_params[name] = value
        self.methodsChanged.emit()

    def set_run(self, batch: int | None = None, seed: int | None = None) -> None:
        if batch is not None:
            self.problem.batch = int(batch)
        if seed is not None:
            self.problem.seed = int(seed)
        self.methodsChanged.emit()

    # -- running and exporting ---------------------------------------------------------------------
    def why_not(self) -> str | None:
        if self.loading:
            return "loading the data…"
        if self.operator() is None:
            return self.op_error
        return self.problem.problem()

    def pipeline(self):
        """The pipeline that solves the problem (raises StudioError)."""
        why = self.why_not()
        if why:
            raise StudioError(why, "inverse problem")
        return build_pipeline(self.problem, self.y())

    def export(self, path: str) -> list[str]:
        why = self.why_not()
        if why:
            raise StudioError(why, "inverse problem")
        return export_pipeline(self.problem, self.y(), path)


__all__ = ["InverseModel", "METHODS"]

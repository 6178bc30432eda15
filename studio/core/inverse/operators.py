"""Linear measurement operators for inverse problems: y = A x + sigma_y n.

Every operator works on batches ``x [B, *data_shape]`` and knows its forward map ``A``, its adjoint
``A^T``, its pseudo-inverse ``A^+`` and a solve with ``r2 A A^T + s2 I`` (what pseudo-inverse
guided methods need). An operator is a dataclass registered in :data:`OPERATORS`; its fields are
its parameters. It learns the data shape by :meth:`Operator.bind` (done lazily on first use), which
validates the shapes and precomputes what it needs.

Kinds (ids):

- ``inpaint``: a 0/1 mask (1 = observed) broadcastable to the data shape; ``y`` has the data's
  shape and holds the observed values in place (entries under mask 0 are ignored). A is the
  coordinate projection x -> mask * x, so A = A^T = A^+.
- ``super-resolution``: k x k average pooling of the last two axes (images [..., H, W]).
- ``blur``: Gaussian blur of the last two axes with periodic boundaries, diagonal in the Fourier
  basis; the pseudo-inverse truncates frequencies whose gain is below ``cutoff`` (relative).
- ``colorize``: RGB -> grey, a weighted sum over the channel axis [..., 3, H, W] -> [..., 1, H, W].
- ``projection``: a random Gaussian matrix [m, D] (or a given one) on the flattened data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from ..arrays import load_array
from ..errors import ParamError
from ..params import param
from ..registry import Registry

#: measurement operator id -> class
OPERATORS: Registry = Registry("operator", ("studio.core.inverse.operators",))


def _col(v, like: Tensor):
    """A scalar or per-sample [B] coefficient, shaped to broadcast against ``like`` [B, ...]."""
    if not isinstance(v, Tensor):
        return v
    v = v.to(device=like.device, dtype=like.dtype)
    if v.ndim == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (like.ndim - 1)))


def _bdot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample inner products [B]."""
    return (a * b).reshape(a.shape[0], -1).sum(1)


def _safe_inv(den: Tensor) -> Tensor:
    """1/den where den > 0, else 0 (the pseudo-inverse of a diagonal)."""
    pos = den > 0
    return torch.where(pos, 1.0 / torch.where(pos, den, torch.ones_like(den)), torch.zeros_like(den))


@dataclass
class Operator:
    """Base class of measurement operators."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: whether :meth:`pinv` exists
    has_pinv: ClassVar[bool] = True
    _base_dir: str = field(default="", repr=False, kw_only=True)

    def __post_init__(self) -> None:
        self._cache: dict = {}
        self._shape: Optional[tuple[int, ...]] = None

    # -- shapes -----------------------------------------------------------------------------
    def bind(self, data_shape) -> "Operator":
        """Validate against ``data_shape`` (one item, no batch axis) and precompute. Idempotent."""
        data_shape = tuple(int(s) for s in data_shape)
        if self._shape != data_shape:
            self._cache = {}
            self._bind(data_shape)
            self._shape = data_shape
        return self

    def _bind(self, data_shape: tuple[int, ...]) -> None:
        pass

    @property
    def data_shape(self) -> tuple[int, ...]:
        if self._shape is None:
            raise RuntimeError(f"operator {self.id!r} is not bound to a data shape yet (call bind)")
        return self._shape

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one measurement y (no batch axis)."""
        return self._out_shape(self.data_shape)

    def _out_shape(self, data_shape: tuple[int, ...]) -> tuple[int, ...]:
        return data_shape

    @property
    def meas_size(self) -> int:
        """Number of measured values per item (for in-place inpainting: observed coordinates)."""
        return int(np.prod(self.out_shape))

    def _check_x(self, x: Tensor) -> None:
        if self._shape != tuple(x.shape[1:]):
            self.bind(x.shape[1:])

    def _check_y(self, y: Tensor) -> None:
        if tuple(y.shape[1:]) != tuple(self.out_shape):
            raise ParamError(f"a measurement has shape {list(y.shape[1:])} per item; {self.id!r} on "
                             f"data {list(self.data_shape)} measures {list(self.out_shape)}", "y")

    def _on(self, name: str, value, like: Tensor) -> Tensor:
        key = (name, like.device, like.dtype)
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(np.array(value)).to(device=like.device,
                                                                     dtype=like.dtype)
        return self._cache[key]

    # -- the linear maps (batched) ----------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """A x: [B, *data_shape] -> [B, *out_shape]."""
        self._check_x(x)
        return self._forward(x)

    def adjoint(self, y: Tensor) -> Tensor:
        """A^T y: [B, *out_shape] -> [B, *data_shape]."""
        self._check_y(y)
        return self._adjoint(y)

    def pinv(self, y: Tensor) -> Tensor:
        """A^+ y (Moore-Penrose pseudo-inverse): [B, *out_shape] -> [B, *data_shape]."""
        if not self.has_pinv:
            raise NotImplementedError(f"operator {self.id!r} has no pseudo-inverse")
        self._check_y(y)
        return self._pinv(y)

    def gram_solve(self, v: Tensor, r2, s2) -> Tensor:
        """(r2 A A^T + s2 I)^+ v for v [B, *out_shape]; r2, s2 scalars or per-sample [B].

        Where s2 = 0 the inverse is taken on the range of A (components outside it, such as the
        unobserved entries of an in-place inpainting y, are dropped)."""
        self._check_y(v)
        return self._gram_solve(v, r2, s2)

    def normal(self, x: Tensor) -> Tensor:
        """A^T A x."""
        return self.adjoint(self.forward(x))

    def measured(self, y: Tensor) -> Tensor:
        """y with the entries the operator does not measure set to zero (in-place layouts)."""
        return y

    def project(self, x: Tensor, y: Tensor) -> Tensor:
        """x with its range part replaced by y's: x + A^+ (y - A x)."""
        return x + self.pinv(self.measured(y) - self.forward(x))

    def measure(self, x: Tensor, sigma_y: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """A noisy measurement y = A x + sigma_y n (n standard normal on the measured entries)."""
        y = self.forward(x)
        if sigma_y > 0:
            n = torch.randn(y.shape, generator=generator, dtype=torch.float64).to(y)
            y = y + sigma_y * self.measured(n)
        return y

    def dense(self, dtype=torch.float64) -> Tensor:
        """The dense matrix [prod(out_shape), prod(data_shape)] (for small problems and tests)."""
        d = int(np.prod(self.data_shape))
        eye = torch.eye(d, dtype=dtype).reshape((d,) + self.data_shape)
        return self.forward(eye).reshape(d, -1).T.contiguous()

    # -- defaults subclasses override ------------------------------------------------------
    def _forward(self, x):
        raise NotImplementedError

    def _adjoint(self, y):
        raise NotImplementedError

    def _pinv(self, y):
        raise NotImplementedError

    def _gram_solve(self, v, r2, s2):
        # generic: conjugate gradients on (r2 A A^T + s2 I) (symmetric positive semi-definite)
        from .linalg import cg
        apply = lambda u: _col(r2, u) * self.forward(self.adjoint(u)) + _col(s2, u) * u  # noqa: E731
        return cg(apply, v, torch.zeros_like(v), iters=200, tol=1e-12)


# -------------------------------------------------------------------------------------------------
@OPERATORS.register("inpaint")
@dataclass
class Inpaint(Operator):
    """Keep the coordinates where the mask is 1; y holds the observed values in place."""

    title = "Inpainting (0/1 mask, 1 = observed)"
    mask: Any = param(doc="0/1 mask broadcastable to the data shape (1 = observed): a .npy path "
                          "(relative to the pipeline) or a nested list", ui="mask")

    def __post_init__(self):
        super().__post_init__()
        m = load_array(self.mask, "mask", self._base_dir or None)
        if m.ndim == 0:
            raise ParamError("mask must be an array, not a number", "mask")
        if not np.all((m == 0) | (m == 1)):
            raise ParamError("mask values must be 0 or 1 (1 = observed)", "mask")
        self._mask = m

    def _bind(self, data_shape):
        try:
            m = np.broadcast_to(self._mask, data_shape)
        except ValueError:
            raise ParamError(f"mask of shape {list(self._mask.shape)} does not broadcast to the data "
                             f"shape {list(data_shape)}", "mask") from None
        self._full = np.array(m, dtype=np.float64)

    @property
    def meas_size(self) -> int:
        return int(self._full.sum())

    def _m(self, like):
        return self._on("mask", self._full, like)

    def _forward(self, x):
        return self._m(x) * x

    _adjoint = _forward
    _pinv = _forward

    def measured(self, y):
        return self._m(y) * y

    def _gram_solve(self, v, r2, s2):
        m = self._m(v)
        return m * v * _safe_inv(_col(r2, v) * m + _col(s2, v) + 0 * m)


# -------------------------------------------------------------------------------------------------
def _image_shape(op: Operator, data_shape, need: str = "[..., H, W]"):
    if len(data_shape) < 2:
        raise ParamError(f"{op.id} needs image data {need}, got data shape {list(data_shape)}",
                         "operator")


@OPERATORS.register("super-resolution")
@dataclass
class SuperResolution(Operator):
    """k x k average pooling of the last two axes; A A^T = I / k^2, A^+ = nearest upsampling."""

    title = "Super-resolution (k x k average pooling)"
    factor: int = param(2, "pooling factor k (H and W must be divisible by it)", min=1)

    def _bind(self, data_shape):
        _image_shape(self, data_shape)
        h, w = data_shape[-2:]
        if h % self.factor or w % self.factor:
            raise ParamError(f"image size {h}x{w} is not divisible by the factor {self.factor}",
                             "factor")

    def _out_shape(self, data_shape):
        k = self.factor
        return tuple(data_shape[:-2]) + (data_shape[-2] // k, data_shape[-1] // k)

    def _forward(self, x):
        k = self.factor
        *lead, h, w = x.shape
        return x.reshape(*lead, h // k, k, w // k, k).mean(dim=(-3, -1))

    def _up(self, y):
        k = self.factor
        return y.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)

    def _adjoint(self, y):
        return self._up(y) / self.factor ** 2

    def _pinv(self, y):
        return self._up(y)

    def _gram_solve(self, v, r2, s2):
        return v * _safe_inv(_col(r2, v) / self.factor ** 2 + _col(s2, v) + 0 * v)


# -------------------------------------------------------------------------------------------------
@OPERATORS.register("blur")
@dataclass
class GaussianBlur(Operator):
    """Gaussian blur of the last two axes, periodic boundaries (a circular convolution, so A is
    diagonal in the 2-D Fourier basis: A = F^-1 diag(K) F, A^T uses conj(K))."""

    title = "Gaussian blur (deblurring)"
    sigma: float = param(1.0, "standard deviation of the kernel, in pixels", min=1e-3)
    size: int = param(0, "kernel size (odd; 0: 2 ceil(3 sigma) + 1, capped at the image)", min=0)
    cutoff: float = param(1e-3, "pseudo-inverse: drop frequencies with gain below cutoff x the "
                               "largest gain", min=0.0, max=1.0)

    def _bind(self, data_shape):
        _image_shape(self, data_shape)
        h, w = data_shape[-2:]
        size = self.size or 2 * math.ceil(3 * self.sigma) + 1
        if size % 2 == 0:
            raise ParamError(f"kernel size must be odd, got {size}", "size")
        r = size // 2
        ax = np.arange(-r, r + 1, dtype=np.float64)
        k1 = np.exp(-0.5 * (ax / self.sigma) ** 2)
        k2 = np.outer(k1, k1)
        k2 /= k2.sum()
        # place the kernel centred at index (0, 0) of an h x w periodic grid (taps wrap around)
        grid = np.zeros((h, w))
        for i, di in enumerate(ax.astype(int)):
            for j, dj in enumerate(ax.astype(int)):
                grid[di % h, dj % w] += k2[i, j]
        self._kernel = k2
        gain = np.fft.fft2(grid)
        self._gain = gain
        mag = np.abs(gain)
        self._keep = mag > self.cutoff * mag.max()

    def _apply(self, x, spectrum):
        return torch.fft.ifft2(torch.fft.fft2(x) * spectrum).real

    def _k(self, like, name="gain", fn=lambda g: g):
        key = (name, like.device, like.dtype)
        if key not in self._cache:
            cdt = torch.complex128 if like.dtype == torch.float64 else torch.complex64
            self._cache[key] = torch.as_tensor(fn(self._gain)).to(device=like.device, dtype=cdt)
        return self._cache[key]

    def _forward(self, x):
        return self._apply(x, self._k(x))

    def _adjoint(self, y):
        return self._apply(y, self._k(y, "conj", np.conj))

    def _pinv(self, y):
        keep = self._keep
        return self._apply(y, self._k(y, "pinv", lambda g: np.where(keep, 1.0 / np.where(keep, g, 1), 0)))

    def _gram_solve(self, v, r2, s2):
        g2 = self._on("g2", np.abs(self._gain) ** 2, v)
        keep = self._on("keep", self._keep.astype(np.float64), v)
        r2c, s2c = _col(r2, v), _col(s2, v)
        den = r2c * g2 + s2c
        if isinstance(s2c, Tensor):
            den = torch.where((s2c > 0) | (keep > 0), den, torch.zeros_like(den))
        elif s2c <= 0:
            den = den * keep
        vh = torch.fft.fft2(v)
        return torch.fft.ifft2(vh * _safe_inv(den + 0 * v)).real


# -------------------------------------------------------------------------------------------------
@OPERATORS.register("colorize")
@dataclass
class Colorize(Operator):
    """RGB -> grey: y = sum_c w_c x_c over the channel axis [..., 3, H, W] -> [..., 1, H, W]."""

    title = "Colorization (RGB to grey)"
    weights: Optional[list[float]] = param(None, "channel weights [3] (default: the mean, 1/3 each)")

    def __post_init__(self):
        super().__post_init__()
        w = np.full(3, 1.0 / 3.0) if self.weights is None else np.asarray(self.weights, np.float64)
        if w.shape != (3,) or not np.any(w != 0):
            raise ParamError("weights must be 3 numbers, not all zero", "weights")
        self._w = w

    def _bind(self, data_shape):
        if len(data_shape) < 3 or data_shape[-3] != 3:
            raise ParamError(f"colorize needs RGB image data [..., 3, H, W], got data shape "
                             f"{list(data_shape)}", "operator")

    def _out_shape(self, data_shape):
        return tuple(data_shape[:-3]) + (1,) + tuple(data_shape[-2:])

    def _wt(self, like):
        return self._on("w", self._w.reshape(3, 1, 1), like)

    def _forward(self, x):
        return (x * self._wt(x)).sum(dim=-3, keepdim=True)

    def _adjoint(self, y):
        return y * self._wt(y)

    def _pinv(self, y):
        return y * self._wt(y) / float(self._w @ self._w)

    def _gram_solve(self, v, r2, s2):
        return v * _safe_inv(_col(r2, v) * float(self._w @ self._w) + _col(s2, v) + 0 * v)


# -------------------------------------------------------------------------------------------------
@OPERATORS.register("projection")
@dataclass
class RandomProjection(Operator):
    """y = A vec(x) with A [m, D] of i.i.d. N(0, 1/D) entries drawn from ``seed``, or a given
    ``matrix``. Pseudo-inverse and Gram solves use A's singular value decomposition."""

    title = "Random projection (vectors)"
    m: int = param(1, "number of measurements (rows of A)", min=1)
    seed: int = param(0, "seed of the random matrix")
    matrix: Any = param(None, "explicit matrix [m, D] (.npy path or nested list) instead of a "
                               "random one", ui="path")
    rcond: float = param(1e-10, "pseudo-inverse: singular values below rcond x the largest are "
                               "dropped", min=0.0)

    def __post_init__(self):
        super().__post_init__()
        self._given = None
        if self.matrix is not None:
            a = load_array(self.matrix, "matrix", self._base_dir or None, ndim=2)
            self._given = a

    def _bind(self, data_shape):
        d = int(np.prod(data_shape))
        if self._given is not None:
            a = self._given
            if a.shape[1] != d:
                raise ParamError(f"matrix has {a.shape[1]} columns, the data has {d} coordinates",
                                 "matrix")
        else:
            a = np.random.default_rng(self.seed).standard_normal((self.m, d)) / math.sqrt(d)
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        keep = s > self.rcond * s.max() if s.size and s.max() > 0 else np.zeros_like(s, bool)
        self._a, self._u, self._s, self._vt, self._keepsv = a, u, s, vt, keep

    def _out_shape(self, data_shape):
        return (self._given.shape[0] if self._given is not None else self.m,)

    def _forward(self, x):
        a = self._on("a", self._a, x)
        return x.reshape(len(x), -1) @ a.T

    def _adjoint(self, y):
        a = self._on("a", self._a, y)
        return (y @ a).reshape((len(y),) + self.data_shape)

    def _pinv(self, y):
        sinv = np.where(self._keepsv, 1.0 / np.where(self._keepsv, self._s, 1.0), 0.0)
        p = self._on("pinv", (self._vt.T * sinv) @ self._u.T, y)   # [D, m]
        return (y @ p.T).reshape((len(y),) + self.data_shape)

    def _gram_solve(self, v, r2, s2):
        u = self._on("u", self._u, v)                  # [m, r]
        s2v = self._on("s2", np.where(self._keepsv, self._s ** 2, 0.0), v)  # [r]
        coef = v @ u                                   # [B, r]
        den = _col(r2, coef) * s2v + _col(s2, coef)
        out = (coef * _safe_inv(den + 0 * coef)) @ u.T
        # components outside the column space of A (m > rank): only s2 acts there
        resid = v - coef @ u.T
        return out + resid * _safe_inv(_col(s2, resid) + 0 * resid)

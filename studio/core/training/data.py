"""Training data sets, registered like every other plugin (:data:`DATASETS`).

A data set's ``load(seed)`` returns a :class:`Data`: an array [N, *shape] in the data's own
units, optional integer labels, class names, and the data's range (images: [0, 1]). The 2-D sets
are drawn from a seeded numpy generator (no scikit-learn needed); ``digits`` is scikit-learn's
bundled 8x8 digits (values / 16, in [0, 1]); ``image-folder`` reads any folder of images with
Pillow (labels from sub-folder names).
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

from ..errors import ParamError, StudioError
from ..params import param
from ..registry import Registry

DATASETS: Registry = Registry("dataset", ("studio.core.training.data",))


@dataclass
class Data:
    """A loaded data set: x [N, *shape] float32 in data units, labels [N] int64 or None."""

    x: np.ndarray
    labels: Optional[np.ndarray] = None
    class_names: Optional[list[str]] = None
    kind: str = "points"                 # "points" | "image"
    range: Optional[list[float]] = None  # [low, high] for images

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else 0

    def fingerprint(self) -> str:
        h = hashlib.sha256(np.ascontiguousarray(self.x, dtype=np.float32).tobytes())
        if self.labels is not None:
            h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


@dataclass
class Dataset:
    id: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def load(self, seed: int) -> Data:
        raise NotImplementedError


# -- 2-D sets ------------------------------------------------------------------------------------
@dataclass
class Points2D(Dataset):
    n: int = param(20000, "number of points", min=16, max=10_000_000)
    noise: float = param(0.05, "Gaussian noise added to each point", min=0.0)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
        raise NotImplementedError

    def load(self, seed: int) -> Data:
        rng = np.random.default_rng(seed)
        x, y = self.sample(rng, self.n)
        x = x + self.noise * rng.standard_normal(x.shape)
        names = self.names() if y is not None else None
        return Data(x.astype(np.float32), None if y is None else y.astype(np.int64), names)

    def names(self) -> Optional[list[str]]:
        return None


@DATASETS.register("moons")
@dataclass
class Moons(Points2D):
    """Two interleaving half circles (labels: which moon)."""

    title = "Two moons"

    def sample(self, rng, n):
        y = rng.integers(0, 2, n)
        th = rng.uniform(0.0, math.pi, n)
        x = np.where(y[:, None] == 0, np.stack([np.cos(th), np.sin(th)], 1),
                     np.stack([1.0 - np.cos(th), 0.5 - np.sin(th)], 1))
        return x, y

    def names(self):
        return ["upper", "lower"]


@DATASETS.register("swiss-roll")
@dataclass
class SwissRoll(Points2D):
    """A 2-D Swiss roll (spiral), scaled to about [-1, 1]."""

    title = "Swiss roll"
    noise: float = param(0.03, "Gaussian noise added to each point", min=0.0)

    def sample(self, rng, n):
        t = 1.5 * math.pi * (1.0 + 2.0 * rng.uniform(0.0, 1.0, n))
        return np.stack([t * np.cos(t), t * np.sin(t)], 1) / 10.0, None


@DATASETS.register("checkerboard")
@dataclass
class Checkerboard(Points2D):
    """Uniform on the dark squares of a k x k board on [-2, 2]^2."""

    title = "Checkerboard"
    noise: float = param(0.0, "Gaussian noise added to each point", min=0.0)
    squares: int = param(4, "squares per side", min=2, max=32)

    def sample(self, rng, n):
        k = self.squares
        cells = [(i, j) for i in range(k) for j in range(k) if (i + j) % 2 == 0]
        pick = rng.integers(0, len(cells), n)
        ij = np.asarray(cells, dtype=np.float64)[pick]
        u = rng.uniform(0.0, 1.0, (n, 2))
        return (ij + u) * (4.0 / k) - 2.0, None


@DATASETS.register("rings")
@dataclass
class Rings(Points2D):
    """Concentric circles of radius 1..k (points proportional to circumference; label: ring)."""

    title = "Concentric rings"
    noise: float = param(0.04, "Gaussian noise added to each point", min=0.0)
    rings: int = param(3, "number of rings", min=1, max=16)

    def sample(self, rng, n):
        radii = np.arange(1, self.rings + 1, dtype=np.float64)
        y = rng.choice(self.rings, size=n, p=radii / radii.sum())
        th = rng.uniform(0.0, 2 * math.pi, n)
        r = radii[y] / self.rings * 2.0
        return np.stack([r * np.cos(th), r * np.sin(th)], 1), y

    def names(self):
        return [f"ring {i + 1}" for i in range(self.rings)]


@DATASETS.register("pinwheel")
@dataclass
class Pinwheel(Points2D):
    """Curved arms spiralling out of the centre (label: arm)."""

    title = "Pinwheel"
    noise: float = param(0.0, "Gaussian noise added to each point", min=0.0)
    arms: int = param(5, "number of arms", min=1, max=32)
    radial_std: float = param(0.3, "spread along an arm", min=0.0)
    tangential_std: float = param(0.1, "spread across an arm", min=0.0)
    rate: float = param(0.25, "how fast the arms curl", min=0.0)

    def sample(self, rng, n):
        y = rng.integers(0, self.arms, n)
        f = rng.standard_normal((n, 2)) * np.array([self.radial_std, self.tangential_std])
        f[:, 0] += 1.0
        ang = 2 * math.pi * y / self.arms + self.rate * np.exp(f[:, 0])
        c, s = np.cos(ang), np.sin(ang)
        x = np.stack([c * f[:, 0] - s * f[:, 1], s * f[:, 0] + c * f[:, 1]], 1)
        return 2.0 * x, y

    def names(self):
        return [f"arm {i + 1}" for i in range(self.arms)]


@DATASETS.register("gaussians")
@dataclass
class Gaussians(Points2D):
    """A mixture of equal isotropic Gaussians on a ring or a grid (label: component)."""

    title = "Gaussian mixture"
    noise: float = param(0.0, "Gaussian noise added to each point", min=0.0)
    layout: str = param("ring", "component layout", choices=("ring", "grid"))
    components: int = param(8, "number of components (grid: a square number)", min=1, max=400)
    radius: float = param(2.0, "ring radius / grid half-width", min=0.0)
    std: float = param(0.1, "component standard deviation", min=0.0)

    def __post_init__(self):
        if self.layout == "grid" and round(math.sqrt(self.components)) ** 2 != self.components:
            raise ParamError("a grid needs a square number of components", "components")

    def means(self) -> np.ndarray:
        k = self.components
        if self.layout == "ring":
            th = 2 * math.pi * np.arange(k) / k
            return self.radius * np.stack([np.cos(th), np.sin(th)], 1)
        m = int(round(math.sqrt(k)))
        g = np.linspace(-self.radius, self.radius, m) if m > 1 else np.zeros(1)
        return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)

    def sample(self, rng, n):
        y = rng.integers(0, self.components, n)
        return self.means()[y] + self.std * rng.standard_normal((n, 2)), y

    def names(self):
        return [f"component {i + 1}" for i in range(self.components)]


# -- images ------------------------------------------------------------------------------------
@DATASETS.register("digits")
@dataclass
class Digits(Dataset):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, labels 0-9), values / 16."""

    title = "Handwritten digits 8x8 (scikit-learn)"
    classes: Optional[list[int]] = param(None, "keep only these digits (null: all ten)")

    def load(self, seed: int) -> Data:
        x, y = load_digits_arrays()
        names = [str(i) for i in range(10)]
        if self.classes is not None:
            keep = sorted(set(int(c) for c in self.classes))
            if not keep or any(c < 0 or c > 9 for c in keep):
                raise ParamError("classes must be digits 0-9", "classes")
            mask = np.isin(y, keep)
            remap = {c: i for i, c in enumerate(keep)}
            x, y = x[mask], np.asarray([remap[int(v)] for v in y[mask]])
            names = [str(c) for c in keep]
        return Data(x, y.astype(np.int64), names, "image", [0.0, 1.0])


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images [1797, 1, 8, 8] float32 in [0, 1], labels [1797])."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise StudioError("the digits data set needs scikit-learn (pip install scikit-learn)",
                          "data digits") from None
    d = load_digits()
    return (d.images.astype(np.float32) / 16.0)[:, None], d.target.astype(np.int64)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@DATASETS.register("image-folder")
@dataclass
class ImageFolder(Dataset):
    """Every image under a folder, resized (centre crop to square, then Lanczos) to size x size;
    with ``labels``, each sub-folder is a class."""

    title = "Folder of images"
    path: str = param(doc="folder of images (relative to the config file)", ui="folder")
    size: int = param(32, "side of the square training images", min=8, max=64)
    channels: int = param(3, "1 (grey) or 3 (RGB)", choices=(1, 3))
    labels: bool = param(False, "one class per sub-folder")
    limit: int = param(0, "use at most this many images (0: all)", min=0)
    _base_dir: str = field(default="", repr=False)

    def files(self) -> tuple[str, list[tuple[str, int]], list[str]]:
        root = os.path.expanduser(self.path)
        if not os.path.isabs(root) and self._base_dir:
            root = os.path.join(self._base_dir, root)
        if not os.path.isdir(root):
            raise ParamError(f"not a folder: {root}", "path")
        items: list[tuple[str, int]] = []
        names: list[str] = []
        if self.labels:
            names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
                           and not d.startswith("."))
            if len(names) < 2:
                raise ParamError(f"labels from sub-folders need at least 2 sub-folders in {root}",
                                 "labels")
            for i, d in enumerate(names):
                for dp, _, fs in sorted(os.walk(os.path.join(root, d))):
                    items += [(os.path.join(dp, f), i) for f in sorted(fs)
                              if f.lower().endswith(IMAGE_SUFFIXES)]
        else:
            for dp, dirs, fs in os.walk(root):
                dirs.sort()
                items += [(os.path.join(dp, f), -1) for f in sorted(fs)
                          if f.lower().endswith(IMAGE_SUFFIXES)]
        if not items:
            raise ParamError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}", "path")
        if self.limit:
            items = items[:self.limit]
        return root, items, names

    def load(self, seed: int) -> Data:
        from PIL import Image, UnidentifiedImageError

        _, items, names = self.files()
        out = np.empty((len(items), self.channels, self.size, self.size), dtype=np.float32)
        for k, (f, _) in enumerate(items):
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if self.channels == 1 else "RGB")
                    w, h = im.size
                    s = min(w, h)
                    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                    im = im.resize((self.size, self.size), Image.LANCZOS)
                    arr = np.asarray(im, dtype=np.float32) / 255.0
            except (OSError, UnidentifiedImageError) as exc:
                raise StudioError(f"cannot read image: {exc}", f) from None
            out[k] = arr[None] if self.channels == 1 else arr.transpose(2, 0, 1)
        labels = np.asarray([i for _, i in items], dtype=np.int64) if self.labels else None
        return Data(out, labels, names or None, "image", [0.0, 1.0])

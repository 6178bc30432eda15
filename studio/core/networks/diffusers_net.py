"""``diffusers``: a pretrained network from a local diffusers-format folder.

``{"type": "network", "kind": "diffusers", "params": {"path": "DIR", ...}}`` -- DIR is a whole
pipeline (``model_index.json``) or a single model folder (``config.json`` +
``diffusion_pytorch_model.safetensors``); absolute or relative to the pipeline file. Loading is
local and safetensors-only (see :mod:`studio.core.hf.folder`).

The network lives in the space the pipeline samples in: pixels in [-1, 1] for ``UNet2DModel``,
the VAE's latents ``[C, height / f, width / f]`` for the latent families (DiT, Stable Diffusion
1.x/2.x/XL, SD3). ``to_data_units`` turns the final sample into images in [0, 1] (the VAE decode
for latent families), exactly as the diffusers pipelines do with ``output_type="pt"``. The process
it was trained with comes from the folder's scheduler (:mod:`studio.core.hf.schedmap`); under any
other pipeline process the Denoiser maps time and scale by log-SNR.

Precision: :meth:`configure` (called by the pipeline from ``run.dtype`` and ``run.max_batch``)
sets the dtype the network computes in (float16 / bfloat16: the solver state stays float32) and
the micro-batch size; on a CUDA out-of-memory error the micro-batch halves and the call repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from ..errors import ParamError, StudioError
from ..params import param
from ..processes.base import as_time
from ..registry import NETWORKS
from .base import Network


@NETWORKS.register("diffusers")
@dataclass
class DiffusersNetwork(Network):
    """A diffusers pipeline or model folder (UNet2DModel, DiT, Stable Diffusion, SDXL, SD3)."""

    title = "Diffusers folder (pretrained pipeline)"
    path: str = param(doc="diffusers folder: a pipeline (model_index.json) or a single model "
                      "(config.json + diffusion_pytorch_model.safetensors)", ui="folder")
    prompt: str = param("", "text prompt (text-to-image families)")
    negative_prompt: str = param("", "negative prompt: the unconditional input of "
                                 "classifier-free guidance (text families)")
    height: Optional[int] = param(None, "image height in pixels (null: the model's own)", min=8)
    width: Optional[int] = param(None, "image width in pixels (null: the model's own)", min=8)
    _base_dir: str = field(default="", repr=False)

    def __post_init__(self):
        super().__post_init__()
        import os

        from ..hf.folder import inspect_folder
        from ..hf.schedmap import map_scheduler
        path = os.path.expanduser(self.path) if isinstance(self.path, str) else ""
        if not path:
            raise ParamError("expected a diffusers folder path", "path")
        if not os.path.isabs(path) and self._base_dir:
            path = os.path.join(self._base_dir, path)
        try:
            self.info = inspect_folder(path)
            self.pmap = map_scheduler(self.info.scheduler, self.info.path)
            self._process = self.pmap.build()
            from ..hf.families import load_parts
            self.parts = load_parts(self.info)
        except StudioError as exc:
            raise ParamError(str(exc), "path") from None
        except ImportError as exc:
            raise ParamError(f"needs the optional diffusers extra (pip install "
                             f"'diffusion-studio[diffusers]'): {exc}", "path") from None
        self._size = self._check_size()
        self.compute_dtype = torch.float32
        self.max_batch: Optional[int] = None
        self._cond: dict = {}
        if not self.prompt_conditioned and (self.prompt or self.negative_prompt):
            raise ParamError(f"a {self.parts.family} model takes no prompt", "prompt")

    def _check_size(self) -> tuple[int, int]:
        dh, dw = self.parts.default_size()
        h = self.height if self.height is not None else dh
        w = self.width if self.width is not None else dw
        unit = self.parts.vae_factor * self.parts.patch
        for name, v in (("height", h), ("width", w)):
            if v % unit:
                raise ParamError(f"{v} is not a multiple of {unit} (VAE factor "
                                 f"{self.parts.vae_factor} x patch {self.parts.patch})", name)
        return h, w

    # -- what the pipeline sets --------------------------------------------------------------
    def configure(self, dtype: torch.dtype | None = None, max_batch: int | None = None) -> None:
        self.compute_dtype = dtype or torch.float32
        self.max_batch = max_batch

    # -- the Network interface ---------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.parts.family

    @property
    def latent(self) -> bool:
        return self.parts.vae is not None

    @property
    def parameterization(self) -> str:  # type: ignore[override]
        return self.pmap.parameterization

    @property
    def data_shape(self):
        h, w = self._size
        f = self.parts.vae_factor
        return (self.parts.channels, h // f, w // f)

    @property
    def num_classes(self) -> int:
        return self.parts.num_classes

    @property
    def prompt_conditioned(self) -> bool:
        from ..hf.folder import TEXT_FAMILIES
        return self.parts.family in TEXT_FAMILIES

    @property
    def trained_process(self):
        return self._process

    @property
    def default_dtype(self):
        return torch.float32

    def _labels(self, labels, batch: int):
        fam, n = self.parts.family, self.num_classes
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
            if labels.ndim == 0:
                labels = labels.expand(batch)
            if labels.shape != (batch,):
                raise StudioError(f"need one label per sample ({batch}), got shape "
                                  f"{list(labels.shape)}", "run.labels")
        if self.prompt_conditioned:
            return labels  # >= 0: the prompt; -1: the negative prompt
        if n == 0:
            if labels is not None and bool((labels >= 0).any()):
                raise StudioError(f"{self.info.path} is unconditional: remove run.labels",
                                  "run.labels")
            return None
        if labels is None:
            raise StudioError(f"{self.info.path} is class-conditional: set run.labels to class "
                              f"ids 0..{n - 1}", "run.labels")
        lo = -1 if fam == "dit" else 0
        if fam != "dit" and bool((labels < 0).any()):
            raise StudioError(f"label -1 (unconditional) needs a null class, which this "
                              f"{self.info.denoiser.class_name} lacks (no classifier-free "
                              "guidance for it)", "run.labels")
        if bool((labels >= n).any()) or bool((labels < lo).any()):
            raise StudioError(f"labels must be class ids 0..{n - 1}"
                              + (" (or -1 for DiT's null class)" if fam == "dit" else ""),
                              "run.labels")
        return torch.where(labels < 0, torch.full_like(labels, n), labels)

    def _conditioning(self, labels, batch: int, device, dtype) -> Optional[dict]:
        if not self.prompt_conditioned:
            return None
        key = (str(device), dtype)
        if key not in self._cond:
            if "cpu" not in self._cond:
                self._cond["cpu"] = self.parts.encode_prompt(self.prompt, self.negative_prompt,
                                                             self._size)
            cond, unc = self._cond["cpu"]
            move = lambda d: {k: v.to(device=device, dtype=dtype) for k, v in d.items()}  # noqa
            self._cond[key] = (move(cond), move(unc))
        cond, unc = self._cond[key]
        if labels is None:
            return {k: v.expand(batch, *v.shape[1:]) for k, v in cond.items()}
        mask = (labels >= 0).to(device)
        out = {}
        for k in cond:
            c, u = cond[k], unc[k]
            m = mask.reshape((batch,) + (1,) * (c.ndim - 1))
            out[k] = torch.where(m, c.expand(batch, *c.shape[1:]), u.expand(batch, *u.shape[1:]))
        return out

    def predict(self, x, t, process, labels=None):
        b = x.shape[0]
        labels = self._labels(labels, b)
        dev, dt = x.device, self.compute_dtype
        t = as_time(t, x)
        if t.ndim == 0:
            t = t.expand(b)
        ts = (t * self.pmap.time_scale).to(torch.float32)
        if labels is not None:
            labels = labels.to(dev)
        cond = self._conditioning(labels, b, dev, dt)
        module = self.parts.module("denoiser", dev, dt)
        size = self.max_batch or b
        while True:
            try:
                outs = []
                for i in range(0, b, size):
                    sl = slice(i, i + size)
                    lab = (labels[sl] if labels is not None and not self.prompt_conditioned
                           else None)
                    c = {k: v[sl] for k, v in cond.items()} if cond is not None else None
                    outs.append(self.parts.forward(module, x[sl].to(dt), ts[sl], lab, c))
                break
            except torch.OutOfMemoryError:
                if size <= 1:
                    raise
                size = max(1, size // 2)  # automatic micro-batching
                self.max_batch = size
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
        return torch.cat(outs).to(x.dtype)

    def to_data_units(self, x):
        b = x.shape[0]
        size = self.max_batch or b
        with torch.no_grad():
            imgs = [self.parts.decode(x[i:i + size].to(torch.float32), self.compute_dtype)
                    for i in range(0, b, size)]
        return torch.cat(imgs).to(x.dtype)

    def preview_units(self, x):
        """A cheap picture of x for live views: pixel families as to_data_units; latent
        families through the VAE's fitted linear latent -> RGB map (no decode)."""
        if not self.latent:
            return self.to_data_units(x)
        parts = self.parts
        if getattr(parts, "latent_rgb", None) is None:
            from ..hf.preview import fit_latent_rgb
            parts.latent_rgb = fit_latent_rgb(parts.vae, parts.vae_factor)
        from ..hf.preview import apply_latent_rgb
        return apply_latent_rgb(x, parts.latent_rgb).to(x.dtype)

    def card(self) -> dict:
        from ..hf.cards import folder_card
        out = super().card()
        out.update(folder_card(self.info, self.parts))
        return out

    def process_node(self) -> dict[str, Any]:
        """The process node that matches this folder's scheduler (the app inserts it)."""
        return self.pmap.node()

"""Loading a diffusers folder and calling its denoiser, family by family.

The networks, VAEs and text encoders are diffusers' and transformers' own classes, loaded strictly
offline from local ``.safetensors`` files (the folder is validated first by
:func:`studio.core.hf.folder.inspect_folder`). Prompts are encoded by the pipeline's own
``encode_prompt``, so the embeddings are exactly those the diffusers pipeline would use.

Conditioning convention (shared with the studio's guidance): one label per sample; a label >= 0
is the conditional input (the class, or the prompt), -1 the unconditional one (DiT's null class,
or the negative prompt). Text families without labels are conditional on the prompt.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from ..errors import StudioError
from .folder import FAMILIES, SKIPPED, FolderInfo


@contextlib.contextmanager
def _offline_quiet():
    """No network access and no progress bars or advice while loading."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS")
    old = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ[k] = "1"
    level = logging.getLogger("diffusers").level
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    from diffusers.utils import logging as dlog
    bars = dlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    try:
        from transformers.utils import logging as tlog
        tbars = tlog.is_progress_bar_enabled()
        tlog.disable_progress_bar()
    except ImportError:
        tlog, tbars = None, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        if bars:
            dlog.enable_progress_bar()
        if tbars:
            tlog.enable_progress_bar()
        logging.getLogger("diffusers").setLevel(level)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Parts:
    """The loaded modules of one folder (float32, CPU)."""

    info: FolderInfo
    denoiser: Any
    vae: Any = None
    pipe: Any = None  # the diffusers pipeline object (text families: prompt encoding)
    copies: dict = field(default_factory=dict)
    #: the fitted latent -> RGB preview map (see :mod:`studio.core.hf.preview`), once asked for
    latent_rgb: Any = None

    @property
    def family(self) -> str:
        return self.info.family

    def module(self, which: str, device: torch.device, dtype: torch.dtype):
        """``denoiser`` or ``vae`` on ``device`` in ``dtype`` (converted copies are cached)."""
        base = self.denoiser if which == "denoiser" else self.vae
        if device.type == "cpu" and dtype == torch.float32:
            return base
        key = (which, str(device), dtype)
        if key not in self.copies:
            import copy
            self.copies[key] = copy.deepcopy(base).to(device=device, dtype=dtype)
        return self.copies[key]

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def vae_factor(self) -> int:
        if self.vae is None:
            return 1
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def channels(self) -> int:
        return int(self.denoiser.config.in_channels)

    @property
    def patch(self) -> int:
        return int(getattr(self.denoiser.config, "patch_size", None) or 1)

    def default_size(self) -> tuple[int, int]:
        s = self.denoiser.config.sample_size
        h, w = (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))
        return h * self.vae_factor, w * self.vae_factor

    @property
    def num_classes(self) -> int:
        c = self.denoiser.config
        if self.family == "dit":
            return int(c.num_embeds_ada_norm or 0)
        if self.family == "unet2d":
            return int(getattr(c, "num_class_embeds", None) or 0)
        return 0

    # -- conditioning ----------------------------------------------------------------------------
    def encode_prompt(self, prompt: str, negative: str, size: tuple[int, int]) -> tuple[dict, dict]:
        """(conditional, unconditional) keyword inputs of the denoiser, batch 1, CPU float32;
        ``size`` (height, width) in pixels enters SDXL's added time ids."""
        p, neg = self.pipe, (negative or None)
        with torch.no_grad():
            if self.family == "sd":
                pe, ne = p.encode_prompt(prompt, torch.device("cpu"), 1, True, negative_prompt=neg)
                return {"encoder_hidden_states": pe}, {"encoder_hidden_states": ne}
            if self.family == "sd3":
                pe, ne, pp, npool = p.encode_prompt(prompt=prompt, prompt_2=None, prompt_3=None,
                                                    device=torch.device("cpu"),
                                                    do_classifier_free_guidance=True,
                                                    negative_prompt=neg)
                return ({"encoder_hidden_states": pe, "pooled_projections": pp},
                        {"encoder_hidden_states": ne, "pooled_projections": npool})
            # sdxl
            pe, ne, pp, npool = p.encode_prompt(prompt=prompt, device=torch.device("cpu"),
                                                num_images_per_prompt=1,
                                                do_classifier_free_guidance=True,
                                                negative_prompt=neg)
            h, w = size
            ids = p._get_add_time_ids((h, w), (0, 0), (h, w), dtype=pe.dtype,
                                      text_encoder_projection_dim=int(
                                          p.text_encoder_2.config.projection_dim))
            return ({"encoder_hidden_states": pe, "text_embeds": pp, "time_ids": ids},
                    {"encoder_hidden_states": ne, "text_embeds": npool, "time_ids": ids})

    # -- the call --------------------------------------------------------------------------------
    def forward(self, module, x: Tensor, ts: Tensor, labels: Optional[Tensor],
                cond: Optional[dict]) -> Tensor:
        """The denoiser's raw output at network time ``ts`` (learned-variance halves dropped)."""
        fam = self.family
        if fam == "unet2d":
            out = module(x, ts, class_labels=labels).sample
        elif fam == "dit":
            out = module(x, timestep=ts, class_labels=labels).sample
        elif fam == "sd":
            out = module(x, ts, encoder_hidden_states=cond["encoder_hidden_states"]).sample
        elif fam == "sdxl":
            out = module(x, ts, encoder_hidden_states=cond["encoder_hidden_states"],
                         added_cond_kwargs={"text_embeds": cond["text_embeds"],
                                            "time_ids": cond["time_ids"]}).sample
        else:
            out = module(hidden_states=x, timestep=ts,
                         encoder_hidden_states=cond["encoder_hidden_states"],
                         pooled_projections=cond["pooled_projections"]).sample
        c = x.shape[1]
        if out.shape[1] == 2 * c:  # learned variance (DiT, improved DDPM): keep the mean part
            out = out[:, :c]
        return out

    def decode(self, z: Tensor, dtype: torch.dtype) -> Tensor:
        """Latents -> images in [0, 1] (what the pipeline returns with output_type="pt")."""
        if self.vae is None:
            return (z / 2 + 0.5).clamp(0, 1)
        cfg = self.vae.config
        if dtype == torch.float16 and getattr(cfg, "force_upcast", False):
            dtype = torch.float32  # as the pipelines do: this VAE overflows in float16
        vae = self.module("vae", z.device, dtype)
        z = z / cfg.scaling_factor + (getattr(cfg, "shift_factor", None) or 0.0)
        img = vae.decode(z.to(dtype)).sample.to(torch.float32)
        return (img / 2 + 0.5).clamp(0, 1)


_CACHE: dict = {}


def _stamp(info: FolderInfo) -> tuple:
    out = []
    for c in info.components.values():
        for f in sorted(os.listdir(c.folder)):
            p = os.path.join(c.folder, f)
            if os.path.isfile(p):
                out.append((p, os.path.getmtime(p), os.path.getsize(p)))
    return tuple(out)


def load_parts(info: FolderInfo) -> Parts:
    """Load a validated folder (cached by path and file stamps; at most two folders held)."""
    key = (info.path, _stamp(info))
    if key in _CACHE:
        return _CACHE[key]
    where = info.path
    import diffusers
    try:
        with _offline_quiet():
            if info.kind == "model":
                cls = getattr(diffusers, info.denoiser.class_name)
                parts = Parts(info, cls.from_pretrained(info.path, local_files_only=True,
                                                        use_safetensors=True,
                                                        torch_dtype=torch.float32,
                                                        variant=info.variant))
            else:
                cls = getattr(diffusers, info.pipeline_class)
                skip = {k: None for k in SKIPPED if k in info.index}
                import inspect
                for k, prm in inspect.signature(cls.__init__).parameters.items():
                    entry = info.index.get(k)
                    if (k != "self" and prm.kind == prm.POSITIONAL_OR_KEYWORD
                            and (entry is None or entry == [None, None])
                            and k not in info.components):
                        skip[k] = None  # an absent optional part (SD3 without T5, ...)
                if "requires_safety_checker" in info.index:
                    skip["requires_safety_checker"] = False
                pipe = cls.from_pretrained(info.path, local_files_only=True, use_safetensors=True,
                                           torch_dtype=torch.float32, variant=info.variant,
                                           **skip)
                den = getattr(pipe, FAMILIES[info.family][0])
                parts = Parts(info, den, getattr(pipe, "vae", None), pipe)
    except StudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - diffusers raises many kinds; report one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudioError(f"diffusers could not load it: {msg}", where) from None
    for m in (parts.denoiser, parts.vae):
        if m is not None:
            m.eval().requires_grad_(False)
    if len(_CACHE) >= 2:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = parts
    return parts

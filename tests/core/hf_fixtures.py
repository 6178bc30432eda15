"""Tiny random-weight diffusers folders built in code (no downloads), one per family."""
from __future__ import annotations

import json
import os

import torch

SD_SCHED = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                num_train_timesteps=1000, clip_sample=False, set_alpha_to_one=False,
                steps_offset=1)
DDPM_SCHED = dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02,
                  num_train_timesteps=1000, clip_sample=False)


def _seed(k: int = 0) -> None:
    torch.manual_seed(k)


def tiny_unet2d(num_class_embeds=None):
    import diffusers
    _seed(1)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), num_class_embeds=num_class_embeds)


def tiny_vae(latent_channels=4, shift_factor=None, scaling_factor=0.18215):
    import diffusers
    _seed(2)
    return diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=latent_channels,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4, sample_size=16,
        scaling_factor=scaling_factor, shift_factor=shift_factor)


def write_tokenizer(folder: str, max_length: int = 12):
    """A CLIP tokenizer over single letters, written from a small vocabulary and no merges."""
    from transformers import CLIPTokenizer
    os.makedirs(folder, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for c in letters:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    vj, mt = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    with open(vj, "w") as fh:
        json.dump(vocab, fh)
    with open(mt, "w") as fh:
        fh.write("#version: 0.2\n")
    tok = CLIPTokenizer(vj, mt, model_max_length=max_length, pad_token="!")
    tok.save_pretrained(folder)
    return tok


def tiny_clip(projection=False, hidden=16, proj_dim=8):
    import transformers
    _seed(3 + int(projection))
    cfg = transformers.CLIPTextConfig(vocab_size=55, hidden_size=hidden, intermediate_size=32,
                                      num_hidden_layers=2, num_attention_heads=2,
                                      max_position_embeddings=12, projection_dim=proj_dim,
                                      bos_token_id=0, eos_token_id=1, pad_token_id=2)
    cls = transformers.CLIPTextModelWithProjection if projection else transformers.CLIPTextModel
    return cls(cfg).eval()


def sched(cls_name: str, **cfg):
    import diffusers
    return getattr(diffusers, cls_name)(**cfg)


def make_unet2d(root: str, num_class_embeds=None, scheduler="DDIMScheduler") -> str:
    """A DDPM/DDIM pixel pipeline (class-conditional with ``num_class_embeds``)."""
    import diffusers
    unet = tiny_unet2d(num_class_embeds)
    s = sched(scheduler, **DDPM_SCHED)
    path = os.path.join(root, "unet2d" + ("-cls" if num_class_embeds else ""))
    diffusers.DDIMPipeline(unet=unet, scheduler=s).save_pretrained(path, safe_serialization=True)
    return path


def make_dit(root: str) -> str:
    import diffusers
    _seed(4)
    tr = diffusers.Transformer2DModel(
        num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
        num_layers=2, sample_size=4, patch_size=2, norm_type="ada_norm_zero",
        num_embeds_ada_norm=1000, norm_num_groups=4)  # DiTPipeline hard-codes null class 1000
    pipe = diffusers.DiTPipeline(transformer=tr, vae=tiny_vae(),
                                 scheduler=sched("DDIMScheduler", **DDPM_SCHED))
    path = os.path.join(root, "dit")
    pipe.save_pretrained(path, safe_serialization=True)
    # like the published DiT folders: the class names in model_index.json
    idx_path = os.path.join(path, "model_index.json")
    with open(idx_path) as fh:
        idx = json.load(fh)
    idx["id2label"] = {str(k): v for k, v in enumerate(["cat", "dog", "fox", "owl", "yak"])}
    with open(idx_path, "w") as fh:
        json.dump(idx, fh)
    return path


def make_sd(root: str) -> str:
    import diffusers
    _seed(5)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=16,
        attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    path = os.path.join(root, "sd")
    tok_dir = os.path.join(root, "_tok")
    tok = write_tokenizer(tok_dir)
    pipe = diffusers.StableDiffusionPipeline(
        vae=tiny_vae(), text_encoder=tiny_clip(), tokenizer=tok, unet=unet,
        scheduler=sched("DDIMScheduler", **SD_SCHED), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def make_sd3(root: str, shift: float = 3.0) -> str:
    import diffusers
    _seed(6)
    tr = diffusers.SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=2,
        attention_head_dim=8, num_attention_heads=2, joint_attention_dim=32,
        caption_projection_dim=16, pooled_projection_dim=16, pos_embed_max_size=16)
    tok_dir = os.path.join(root, "_tok3")
    tok = write_tokenizer(tok_dir)
    pipe = diffusers.StableDiffusion3Pipeline(
        transformer=tr, scheduler=sched("FlowMatchEulerDiscreteScheduler", shift=shift),
        vae=tiny_vae(shift_factor=0.0609, scaling_factor=1.5305),
        text_encoder=tiny_clip(True), tokenizer=tok,
        text_encoder_2=tiny_clip(True), tokenizer_2=tok,
        text_encoder_3=None, tokenizer_3=None)
    path = os.path.join(root, "sd3")
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def noise(shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def pipeline_dict(path: str, process: dict, solver: dict, *, batch: int = 2, labels=None,
                  guidance: dict | None = None, net_params: dict | None = None,
                  dtype: str = "float64", **run) -> dict:
    nodes = {"p": process, "n": {"type": "network", "kind": "diffusers",
                                 "params": {"path": path, **(net_params or {})}},
             "s": {"type": "solver", "kind": solver.pop("kind"), "params": solver}}
    links = [["p", "n"]]
    if guidance is not None:
        nodes["g"] = {"type": "guidance", "kind": guidance.pop("kind"), "params": guidance}
        links += [["n", "g"], ["g", "s"]]
    else:
        links.append(["n", "s"])
    r = {"batch": batch, "seed": 0, "dtype": dtype, **run}
    if labels is not None:
        r["labels"] = labels
    return {"format": "studio.pipeline/1", "nodes": nodes, "links": links, "run": r}


def make_sdxl(root: str) -> str:
    """SDXL: two CLIP text encoders (the second with a projection: pooled text embeds) and the
    UNet's added time conditioning (original size, crop, target size)."""
    import diffusers
    _seed(7)
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=32,
        attention_head_dim=2, addition_embed_type="text_time", addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=4 * 6 + 8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    tok = write_tokenizer(os.path.join(root, "_tokxl"))
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=tiny_vae(scaling_factor=0.13025), text_encoder=tiny_clip(), tokenizer=tok,
        text_encoder_2=tiny_clip(True), tokenizer_2=tok, unet=unet,
        scheduler=sched("EulerDiscreteScheduler", **{k: v for k, v in SD_SCHED.items()
                                                     if k not in ("clip_sample",
                                                                  "set_alpha_to_one")}))
    path = os.path.join(root, "sdxl")
    pipe.save_pretrained(path, safe_serialization=True)
    return path

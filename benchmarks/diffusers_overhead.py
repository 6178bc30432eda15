"""Wall time of the studio against the diffusers pipeline on the same diffusers model and steps.

CPU: the DDPM CIFAR-10 UNet (google/ddpm-cifar10-32's config: UNet2DModel, 35.7 M parameters,
32x32, random weights) saved as a DDIM pipeline folder; DDIMPipeline(eta=0, N steps) against the
studio's ``ddim`` solver on the ``diffusers`` network over the same timesteps (``custom``
schedule; solver state float32), from the same noise. The two outputs are compared too. Both
sides alternate, ``--repeats`` times; the minimum of each is reported (the machine may be shared:
the load average is recorded beside the numbers).

CUDA (only when a GPU is available): an SD-1.5-sized UNet2DConditionModel (860 M parameters, random
weights, a tiny CLIP text encoder) at 512x512 in float16, DPM-Solver++(2M) with CFG, images per
second through StableDiffusionPipeline and through the studio.

    python benchmarks/diffusers_overhead.py [--steps 10] [--batch 4] [--repeats 3]

Writes benchmarks/results/diffusers_overhead.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from studio.core.pipeline import Pipeline  # noqa: E402

CIFAR_UNET = dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2,
                  block_out_channels=(128, 256, 256, 256),
                  down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                 attention_head_dim=8)


def studio_pipeline(path: str, timesteps: list[float], solver: str, batch: int, dtype: str,
                    **extra) -> dict:
    nodes = {"p": {"type": "process", "kind": "ddpm-discrete", "params": extra.pop("process", {})},
             "n": {"type": "network", "kind": "diffusers",
                   "params": {"path": path, **extra.pop("net", {})}},
             "s": {"type": "solver", "kind": solver,
                   "params": {"schedule": "custom", "timesteps": timesteps,
                              "steps": len(timesteps) - 1}}}
    links = [["p", "n"], ["n", "s"]]
    if "cfg" in extra:
        nodes["g"] = {"type": "guidance", "kind": "cfg", "params": {"scale": extra.pop("cfg")}}
        links = [["p", "n"], ["n", "g"], ["g", "s"]]
    return {"format": "studio.pipeline/1", "nodes": nodes, "links": links,
            "run": {"batch": batch, "seed": 0, "dtype": dtype, "device": extra.get("device", "cpu")}}


class NetTimer:
    """Seconds spent inside a module's forward (hooks on the top-level module): the rest of a
    run's wall time is the sampler's own overhead, a figure a busy machine distorts far less
    than the wall times themselves."""

    def __init__(self, module):
        self.seconds, self._t = 0.0, 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, *_):
        self._t = time.perf_counter()

    def _post(self, *_):
        self.seconds += time.perf_counter() - self._t


def cpu_cifar(steps: int, batch: int, repeats: int) -> dict:
    import diffusers
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(**CIFAR_UNET)
    sched = diffusers.DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                    clip_sample=False)
    folder = tempfile.mkdtemp(prefix="ddpm-cifar10-")
    t0 = time.perf_counter()
    diffusers.DDIMPipeline(unet=unet, scheduler=sched).save_pretrained(folder,
                                                                       safe_serialization=True)
    pipe = diffusers.DDIMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler.set_timesteps(steps)
    ts = [float(k) for k in pipe.scheduler.timesteps]
    built = Pipeline.from_dict(studio_pipeline(folder, ts, "ddim", batch, "float32")).build()
    load_s = time.perf_counter() - t0
    z = torch.randn((batch, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    theirs_t, ours_t, out = [], [], {}
    t_net, o_net = NetTimer(pipe.unet), NetTimer(built.network.parts.denoiser)

    def run_theirs():
        t = time.perf_counter()
        with torch.no_grad():
            out["theirs"] = pipe(batch_size=batch, generator=torch.Generator().manual_seed(0),
                                 num_inference_steps=steps, output_type="np").images
        theirs_t.append(time.perf_counter() - t)

    def run_ours():
        t = time.perf_counter()
        out["ours"] = built.run(noise=z)["s"].samples
        ours_t.append(time.perf_counter() - t)

    for i in range(repeats):  # alternate which goes first (a shared machine drifts)
        for f in ((run_theirs, run_ours) if i % 2 == 0 else (run_ours, run_theirs)):
            f()
    theirs, ours = out["theirs"], out["ours"]
    theirs_over = (sum(theirs_t) - t_net.seconds) / sum(theirs_t)
    ours_over = (sum(ours_t) - o_net.seconds) / sum(ours_t)
    diff = float(np.abs(ours.permute(0, 2, 3, 1).numpy() - theirs).max())
    params = sum(p.numel() for p in unet.parameters())
    return {"model": "DDPM CIFAR-10 UNet2DModel (random weights)", "parameters": params,
            "resolution": 32, "steps": steps, "batch": batch, "device": "cpu",
            "ratio_median": float(np.median(ours_t) / np.median(theirs_t)),
            "diffusers_outside_network_fraction": theirs_over,
            "studio_outside_network_fraction": ours_over,
            "threads": torch.get_num_threads(), "diffusers_s": min(theirs_t),
            "studio_s": min(ours_t), "ratio": min(ours_t) / min(theirs_t),
            "all_diffusers_s": theirs_t, "all_studio_s": ours_t, "max_abs_diff": diff,
            "setup_s (save + load both)": load_s}


def cuda_sd15(steps: int, batch: int, repeats: int) -> dict:  # pragma: no cover - needs a GPU
    import diffusers
    import transformers
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "core"))
    import hf_fixtures as F
    root = tempfile.mkdtemp(prefix="sd15-")
    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(**SD15_UNET)
    vae = diffusers.AutoencoderKL(block_out_channels=(128, 256, 512, 512), latent_channels=4,
                                  down_block_types=("DownEncoderBlock2D",) * 4,
                                  up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2)
    tok = F.write_tokenizer(os.path.join(root, "_tok"))
    te = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=55, hidden_size=768, intermediate_size=1024, num_hidden_layers=2,
        num_attention_heads=12, max_position_embeddings=12, bos_token_id=0, eos_token_id=1,
        pad_token_id=2))
    path = os.path.join(root, "sd15")
    diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=te, tokenizer=tok, unet=unet,
        scheduler=diffusers.DPMSolverMultistepScheduler(beta_schedule="scaled_linear",
                                                        beta_start=0.00085, beta_end=0.012),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False
    ).save_pretrained(path, safe_serialization=True)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(path, torch_dtype=torch.float16).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler.set_timesteps(steps)
    ts = [float(k) for k in pipe.scheduler.timesteps]
    built = Pipeline.from_dict(studio_pipeline(
        path, ts, "dpm-solver++-2m", batch, "float16", device="cuda", cfg=7.5,
        net={"prompt": "a photo"}, process={"beta_schedule": "scaled_linear",
                                            "beta_start": 0.00085, "beta_end": 0.012})).build()
    z = torch.randn((batch, 4, 64, 64), generator=torch.Generator().manual_seed(0))
    theirs_t, ours_t = [], []
    for _ in range(repeats + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        pipe(prompt="a photo", num_inference_steps=steps, guidance_scale=7.5,
             num_images_per_prompt=batch, latents=z.to("cuda", torch.float16), output_type="pt")
        torch.cuda.synchronize()
        theirs_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        built.run(noise=z)
        torch.cuda.synchronize()
        ours_t.append(time.perf_counter() - t)
    theirs_t, ours_t = theirs_t[1:], ours_t[1:]  # the first round warms up
    return {"model": "SD-1.5-sized UNet (random weights), 512x512, float16, CFG 7.5",
            "steps": steps, "batch": batch, "device": torch.cuda.get_device_name(),
            "diffusers_images_per_s": batch / min(theirs_t),
            "studio_images_per_s": batch / min(ours_t)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    out = {"load_average": os.getloadavg(), "torch": torch.__version__}
    import diffusers
    out["diffusers"] = diffusers.__version__
    out["cpu"] = cpu_cifar(args.steps, args.batch, args.repeats)
    c = out["cpu"]
    print(f"CPU, {c['model']}, {c['parameters']:,} params, batch {c['batch']}, {c['steps']} "
          f"steps: diffusers {c['diffusers_s']:.2f} s, studio {c['studio_s']:.2f} s, ratio "
          f"{c['ratio']:.3f} (of medians {c['ratio_median']:.3f}; max |diff| "
          f"{c['max_abs_diff']:.2g}); load average "
          f"{out['load_average'][0]:.2f}")
    print(f"  time outside the UNet's forward: diffusers {100 * c['diffusers_outside_network_fraction']:.2f}%"
          f", studio {100 * c['studio_outside_network_fraction']:.2f}% of the wall time")
    if torch.cuda.is_available():
        out["cuda"] = cuda_sd15(20, 4, args.repeats)
        g = out["cuda"]
        print(f"CUDA {g['device']}: diffusers {g['diffusers_images_per_s']:.2f} img/s, studio "
              f"{g['studio_images_per_s']:.2f} img/s")
    out["load_average_after"] = os.getloadavg()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "diffusers_overhead.json"), "w") as fh:
        json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()

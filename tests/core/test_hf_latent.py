"""The ``diffusers`` network kind, latent families: DiT (class labels), Stable Diffusion 1.x (prompt,
classifier-free guidance) and SD3 (flow matching with shift), each against the diffusers pipeline
from the same latent noise; half precision and micro-batching; latents in `studio run`'s output.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.core.pipeline import Pipeline

from . import hf_fixtures as F
from .test_hf_pixel import grid, studio_run

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hf_latent"))
    return {"dit": F.make_dit(root), "sd": F.make_sd(root), "sd3": F.make_sd3(root)}


def _scheduler(pipe, solver):
    if solver == "dpm-solver++-2m":
        pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("solver", ["ddim", "dpm-solver++-2m"])
def test_dit_matches_pipeline_with_cfg(folders, solver):
    pipe = _scheduler(diffusers.DiTPipeline.from_pretrained(folders["dit"]), solver)
    theirs = pipe(class_labels=[1, 3], guidance_scale=2.5, num_inference_steps=5,
                  generator=torch.Generator().manual_seed(0), output_type="np").images
    built = studio_run(folders["dit"], solver, grid(pipe.scheduler, 5), labels=[1, 3],
                       guidance={"kind": "cfg", "scale": 2.5})
    assert built.network.data_shape == (4, 4, 4)
    res = built.run(noise=F.noise((2, 4, 4, 4)))["s"]
    assert res.latents.shape == (2, 4, 4, 4) and res.samples.shape == (2, 3, 8, 8)
    diff = float(np.abs(res.samples.permute(0, 2, 3, 1).numpy() - theirs).max())
    assert diff < 1e-4, f"DiT {solver}: {diff:.3g}"


@pytest.mark.parametrize("solver", ["ddim", "dpm-solver++-2m"])
def test_stable_diffusion_matches_pipeline_with_prompt_and_cfg(folders, solver):
    pipe = _scheduler(diffusers.StableDiffusionPipeline.from_pretrained(folders["sd"]), solver)
    z = F.noise((2, 4, 8, 8), seed=2)
    theirs = pipe(prompt="a red fox", negative_prompt="blurry", height=16, width=16,
                  num_inference_steps=5, guidance_scale=4.0, latents=z.clone(),
                  num_images_per_prompt=2, output_type="pt").images
    # SD's DDIM has set_alpha_to_one=False: its last step lands on k = 0, not on x0
    built = studio_run(folders["sd"], solver, grid(pipe.scheduler, 5, solver == "ddim"),
                       guidance={"kind": "cfg", "scale": 4.0},
                       net_params={"prompt": "a red fox", "negative_prompt": "blurry"})
    res = built.run(noise=z)["s"]
    diff = float((res.samples - theirs).abs().max())
    assert diff < 1e-4, f"SD {solver}: {diff:.3g}"
    # the prompt matters: another prompt gives another image
    other = studio_run(folders["sd"], solver, grid(pipe.scheduler, 5, solver == "ddim"),
                       guidance={"kind": "cfg", "scale": 4.0},
                       net_params={"prompt": "an owl", "negative_prompt": "blurry"})
    assert float((other.run(noise=z)["s"].samples - theirs).abs().max()) > 1e-3


def test_sd3_flow_matching_matches_pipeline(folders):
    kw = dict(text_encoder_3=None, tokenizer_3=None)
    pipe = diffusers.StableDiffusion3Pipeline.from_pretrained(folders["sd3"], **kw)
    pipe.set_progress_bar_config(disable=True)
    z = F.noise((2, 4, 8, 8), seed=3)
    theirs = pipe(prompt="a cat", height=16, width=16, num_inference_steps=5, guidance_scale=3.0,
                  latents=z.clone(), num_images_per_prompt=2, output_type="pt").images
    sig = [float(s) for s in pipe.scheduler.sigmas[:-1]]  # the last step, to 0, = final denoise
    built = studio_run(folders["sd3"], "euler", {"schedule": "custom", "timepoints": sig,
                                                 "steps": len(sig) - 1},
                       guidance={"kind": "cfg", "scale": 3.0}, net_params={"prompt": "a cat"})
    assert built.process.id == "rectified-flow" and built.process.shift == 3.0
    assert built.network.parameterization == "velocity"
    res = built.run(noise=z)["s"]
    assert float((res.samples - theirs).abs().max()) < 1e-4
    # the studio's own schedules apply the folder's shift: dense near the noise end
    t = build_times(folders["sd3"])
    assert t[1] > 0.9


def build_times(path):
    built = studio_run(path, "euler", {"steps": 4}, net_params={"prompt": "a"})
    return built.solvers["s"].times_for(built.denoiser(built.branches[0]))


def test_height_width_and_prompt_errors(folders):
    from studio.core.errors import StudioError
    built = studio_run(folders["sd"], "ddim", {"steps": 2}, net_params={"height": 24, "width": 16})
    assert built.network.data_shape == (4, 12, 8)
    assert built.run()["s"].samples.shape == (2, 3, 24, 16)
    with pytest.raises(StudioError, match="height.*multiple of 2"):
        studio_run(folders["sd"], "ddim", {"steps": 2}, net_params={"height": 15})
    with pytest.raises(StudioError, match="takes no prompt"):
        studio_run(folders["dit"], "ddim", {"steps": 2}, net_params={"prompt": "x"}, labels=0)
    with pytest.raises(StudioError, match="class-conditional"):
        studio_run(folders["dit"], "ddim", {"steps": 2}).run()


def test_bfloat16_network_float32_state_and_micro_batches(folders, monkeypatch):
    ref = studio_run(folders["sd"], "ddim", {"steps": 3}, batch=3, dtype="float32",
                     net_params={"prompt": "a"}).run()["s"]
    parts = studio_run(folders["sd"], "ddim", {"steps": 3}, net_params={"prompt": "a"}
                       ).network.parts
    seen = []
    real = type(parts).forward

    def spy(self, module, x, ts, labels, cond):
        seen.append((x.shape[0], x.dtype, next(module.parameters()).dtype))
        return real(self, module, x, ts, labels, cond)

    monkeypatch.setattr(type(parts), "forward", spy)
    chunked = studio_run(folders["sd"], "ddim", {"steps": 3}, batch=3, dtype="float32",
                         max_batch=2, net_params={"prompt": "a"}).run()["s"]
    assert max(s[0] for s in seen) == 2 and len(seen) == 2 * chunked.nfe
    assert float((chunked.samples - ref.samples).abs().max()) < 1e-5
    seen.clear()
    half = studio_run(folders["sd"], "ddim", {"steps": 3}, batch=3, dtype="bfloat16",
                      net_params={"prompt": "a"}).run()["s"]
    assert all(s[1] == torch.bfloat16 and s[2] == torch.bfloat16 for s in seen)
    assert half.samples.dtype == torch.float32 and half.latents.dtype == torch.float32
    assert float((half.samples - ref.samples).abs().max()) < 0.1


def test_cli_run_saves_latents(folders, tmp_path):
    from studio.cli.main import main
    d = F.pipeline_dict(folders["sd"], {"type": "process", "kind": "ddpm-discrete",
                                        "params": {"beta_schedule": "scaled_linear",
                                                   "beta_start": 0.00085, "beta_end": 0.012}},
                        {"kind": "dpm-solver++-2m", "steps": 3}, net_params={"prompt": "a cat"},
                        guidance={"kind": "cfg", "scale": 5.0})
    (tmp_path / "p.json").write_text(json.dumps(d))
    np.save(tmp_path / "z.npy", F.noise((2, 4, 8, 8)).numpy())
    assert main(["run", str(tmp_path / "p.json"), "--out", str(tmp_path / "r.npz"), "--noise",
                 str(tmp_path / "z.npy"), "--quiet"]) == 0
    r = np.load(tmp_path / "r.npz")
    assert r["s.samples"].shape == (2, 3, 16, 16) and r["s.latents"].shape == (2, 4, 8, 8)
    assert 0 <= r["s.samples"].min() and r["s.samples"].max() <= 1


def test_cards(folders):
    from studio.core.hf.cards import inspect_card
    dit = inspect_card(folders["dit"])
    assert dit["family"] == "dit" and dit["num_classes"] == 1000 and dit["class_names"][1] == "dog"
    assert dit["resolution"] == [8, 8] and dit["latent"]
    sd = inspect_card(folders["sd"])
    assert sd["family"] == "sd" and sd["text_conditioned"] and sd["resolution"] == [16, 16]
    assert set(sd["components"]) >= {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}
    assert sd["components"]["text_encoder"]["parameters"] > 0
    sd3 = inspect_card(folders["sd3"])
    assert sd3["process"] == "rectified-flow" and sd3["process_params"] == {"shift": 3.0}


def test_sdxl_added_conditioning_matches_pipeline(tmp_path):
    path = F.make_sdxl(str(tmp_path))
    pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(path)
    pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    z = F.noise((1, 4, 8, 8), seed=4)
    theirs = pipe(prompt="a fox", negative_prompt="blur", height=16, width=16,
                  num_inference_steps=4, guidance_scale=5.0, latents=z.clone(),
                  output_type="pt").images
    built = studio_run(path, "dpm-solver++-2m", grid(pipe.scheduler, 4), batch=1,
                       guidance={"kind": "cfg", "scale": 5.0},
                       net_params={"prompt": "a fox", "negative_prompt": "blur"})
    assert built.network.family == "sdxl"
    res = built.run(noise=z)["s"]
    assert float((res.samples - theirs).abs().max()) < 1e-4


def test_out_of_memory_halves_the_micro_batch(folders, monkeypatch):
    ref = studio_run(folders["dit"], "ddim", {"steps": 2}, batch=4, labels=[0, 1, 2, 3]).run()["s"]
    built = studio_run(folders["dit"], "ddim", {"steps": 2}, batch=4, labels=[0, 1, 2, 3])
    parts = built.network.parts
    real = type(parts).forward

    def small_memory(self, module, x, ts, labels, cond):
        if x.shape[0] > 1:
            raise torch.OutOfMemoryError("simulated")
        return real(self, module, x, ts, labels, cond)

    monkeypatch.setattr(type(parts), "forward", small_memory)
    res = built.run()["s"]
    assert built.network.max_batch == 1
    assert float((res.samples - ref.samples).abs().max()) < 1e-5

"""The ``diffusers`` network kind, family 1 (pixel UNet2DModel): parity with the diffusers
pipelines and schedulers, process mapping, single model folders, the command line, and the errors.

Parity: the studio runs the diffusers scheduler's own timesteps (``custom`` schedule) from the
same noise; DDIM and DPM-Solver++(2M) must agree to 1e-4 in float32 network arithmetic.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from studio.core.errors import StudioError
from studio.core.pipeline import Pipeline

from . import hf_fixtures as F

diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hf_pixel"))
    return {"uncond": F.make_unet2d(root), "cls": F.make_unet2d(root, num_class_embeds=3),
            "root": root}


def grid(scheduler, n: int, final_to_zero: bool = False) -> dict:
    """Solver params that reproduce a diffusers scheduler's timesteps. Diffusers' last step goes
    to alpha = 1 (our final denoise) unless ``final_to_zero`` (DDIM with set_alpha_to_one=False:
    a last DDIM step to k = 0)."""
    scheduler.set_timesteps(n)
    ks = [float(k) for k in dict.fromkeys(int(k) for k in scheduler.timesteps)]
    if final_to_zero:
        return {"schedule": "custom", "timesteps": ks + [0.0], "steps": len(ks),
                "denoise_final": False}
    return {"schedule": "custom", "timesteps": ks, "steps": len(ks) - 1}


def studio_run(path, solver_kind, solver, batch=2, **kw):
    from studio.core.hf.folder import inspect_folder
    from studio.core.hf.schedmap import map_scheduler
    info = inspect_folder(path)
    proc = map_scheduler(info.scheduler, path).node()
    d = F.pipeline_dict(path, proc, {"kind": solver_kind, **solver}, batch=batch, **kw)
    return Pipeline.from_dict(d).build()


@pytest.mark.parametrize("solver", ["ddim", "dpm-solver++-2m"])
def test_unconditional_matches_diffusers_pipeline(folders, solver):
    path = folders["uncond"]
    if solver == "ddim":
        pipe = diffusers.DDIMPipeline.from_pretrained(path)
    else:
        pipe = diffusers.DDPMPipeline.from_pretrained(path)
        pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(batch_size=2, generator=torch.Generator().manual_seed(0),
                  num_inference_steps=6, output_type="np").images
    built = studio_run(path, solver, grid(pipe.scheduler, 6))
    res = built.run(noise=F.noise((2, 3, 8, 8)))["s"]
    assert res.latents is None  # a pixel model
    ours = res.samples.permute(0, 2, 3, 1).numpy()
    assert ours.min() >= 0 and ours.max() <= 1
    diff = float(np.abs(ours - theirs).max())
    assert diff < 1e-4, f"{solver}: max |studio - diffusers| = {diff:.3g}"


@pytest.mark.parametrize("solver", ["ddim", "dpm-solver++-2m"])
def test_class_conditional_matches_scheduler_loop(folders, solver):
    path = folders["cls"]
    unet = diffusers.UNet2DModel.from_pretrained(path, subfolder="unet")
    cls = diffusers.DDIMScheduler if solver == "ddim" else diffusers.DPMSolverMultistepScheduler
    sch = cls.from_pretrained(path, subfolder="scheduler")
    labels = [2, 0, 1]
    z = F.noise((3, 3, 8, 8), seed=1)
    x = z.clone()
    sch.set_timesteps(5)
    with torch.no_grad():
        for k in sch.timesteps:
            x = sch.step(unet(x, k, class_labels=torch.tensor(labels)).sample, k, x).prev_sample
    theirs = (x / 2 + 0.5).clamp(0, 1)
    built = studio_run(path, solver, grid(sch, 5), batch=3, labels=labels)
    ours = built.run(noise=z)["s"].samples
    assert float((ours - theirs).abs().max()) < 1e-4


def test_class_conditional_needs_labels(folders):
    built = studio_run(folders["cls"], "ddim", {"steps": 2})
    with pytest.raises(StudioError, match="class-conditional.*run.labels|run.labels.*class"):
        built.run()
    built = studio_run(folders["cls"], "ddim", {"steps": 2}, labels=[0, 3])
    with pytest.raises(StudioError, match="0..2"):
        built.run()
    built = studio_run(folders["cls"], "ddim", {"steps": 2}, labels=[0, 1],
                       guidance={"kind": "cfg", "scale": 2.0})
    with pytest.raises(StudioError, match="null class"):
        built.run()


def test_every_solver_family_runs_with_other_process_and_schedule(folders):
    """Any studio process/schedule: the Denoiser maps time by log-SNR onto the folder's table."""
    d = F.pipeline_dict(folders["uncond"], {"type": "process", "kind": "vp-cosine", "params": {}},
                        {"kind": "heun", "steps": 3, "schedule": "karras"})
    res = Pipeline.from_dict(d).build().run()["s"]
    assert res.samples.shape == (2, 3, 8, 8) and torch.isfinite(res.samples).all()


def test_card_and_process_node(folders):
    from studio.core.hf.cards import inspect_card
    card = inspect_card(folders["cls"])
    assert card["family"] == "unet2d" and card["num_classes"] == 3
    assert card["resolution"] == [8, 8] and card["process"] == "ddpm-discrete"
    assert card["parameterization"] == "eps" and card["scheduler"]["class"] == "DDIMScheduler"
    unet = card["components"]["unet"]
    n = sum(p.numel() for p in diffusers.UNet2DModel.from_pretrained(
        folders["cls"], subfolder="unet").parameters())
    assert unet["parameters"] == n and unet["dtype"] == "F32"
    assert card["size_bytes"] > unet["size_bytes"] > 4 * n - 1


@pytest.mark.parametrize("cfg,expect", [
    ({"beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction"}, "v"),
    ({"beta_schedule": "linear", "prediction_type": "sample"}, "x0"),
    ({"trained_betas": list(np.linspace(1e-4, 0.02, 1000)), "prediction_type": "epsilon"}, "eps"),
])
def test_scheduler_mapping_matches_alphas_cumprod(cfg, expect):
    from studio.core.hf.schedmap import map_scheduler
    sch = diffusers.DDPMScheduler(num_train_timesteps=1000, **cfg)
    pm = map_scheduler(dict(sch.config), "x")
    assert pm.parameterization == expect and pm.kind == "ddpm-discrete"
    proc = pm.build()
    k = torch.tensor([0.0, 10.0, 500.0, 999.0], dtype=torch.float64)
    ours = proc.alpha(proc.timestep_to_t(k)) ** 2
    theirs = sch.alphas_cumprod[k.long()].double()
    assert float((ours - theirs).abs().max()) < 1e-6


def test_single_model_folder(folders, tmp_path):
    """A lone UNet2DModel folder: inside a pipeline it borrows the pipeline's scheduler; alone it
    runs on DDPM's defaults."""
    from studio.core.hf.folder import inspect_folder
    inner = os.path.join(folders["uncond"], "unet")
    assert inspect_folder(inner).scheduler["_class_name"] == "DDIMScheduler"
    lone = tmp_path / "lone"
    shutil.copytree(inner, lone)
    info = inspect_folder(str(lone))
    assert info.kind == "model" and info.scheduler is None
    res = studio_run(str(lone), "ddim", {"steps": 2}).run()["s"]
    assert res.samples.shape == (2, 3, 8, 8)


def test_cli_run_and_inspect(folders, tmp_path, capsys):
    from studio.cli.main import main
    rel = os.path.relpath(folders["uncond"], tmp_path)  # relative to the pipeline file
    d = F.pipeline_dict(rel, {"type": "process", "kind": "ddpm-discrete", "params": {}},
                        {"kind": "ddim", "steps": 3})
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps(d))
    np.save(tmp_path / "z.npy", F.noise((2, 3, 8, 8)).numpy())
    assert main(["run", str(pf), "--out", str(tmp_path / "r.npz"), "--noise",
                 str(tmp_path / "z.npy"), "--quiet"]) == 0
    r = np.load(tmp_path / "r.npz")
    assert r["s.samples"].shape == (2, 3, 8, 8) and "s.latents" not in r
    assert main(["models", "inspect", folders["cls"]]) == 0
    out = capsys.readouterr().out
    assert "unet2d" in out and "3 classes" in out and "ddpm-discrete" in out
    assert main(["models", "inspect", folders["cls"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 3
    assert main(["models", "list", "--dir", folders["root"]]) == 0
    out = capsys.readouterr().out
    assert f"[diffusers] {folders['cls']}: unet2d" in out and "ddpm-discrete" in out


# -- errors: one line naming the folder and the part ---------------------------------------------
def _copy(folders, tmp_path, name="bad"):
    dst = tmp_path / name
    shutil.copytree(folders["uncond"], dst)
    return dst


def _error(path) -> str:
    from studio.core.hf.folder import inspect_folder
    with pytest.raises(StudioError) as exc:
        inspect_folder(str(path))
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_pickled_weights_only_refused_with_conversion_hint(folders, tmp_path):
    dst = _copy(folders, tmp_path)
    w = dst / "unet" / "diffusion_pytorch_model.safetensors"
    w.rename(dst / "unet" / "diffusion_pytorch_model.bin")
    msg = _error(dst)
    assert "'unet'" in msg and ".bin" in msg and "safe_serialization=True" in msg
    from studio.cli.main import main
    assert main(["models", "inspect", str(dst)]) == 2  # bad input: one line on stderr


def test_missing_component(folders, tmp_path):
    dst = _copy(folders, tmp_path)
    shutil.rmtree(dst / "scheduler")
    msg = _error(dst)
    assert "'scheduler'" in msg and "missing" in msg


def test_unknown_pipeline_class_and_class_diffusers_lacks(folders, tmp_path):
    dst = _copy(folders, tmp_path)
    idx = json.loads((dst / "model_index.json").read_text())
    idx["_class_name"] = "NoSuchPipeline"
    (dst / "model_index.json").write_text(json.dumps(idx))
    assert "unknown pipeline class 'NoSuchPipeline'" in _error(dst)
    dst2 = _copy(folders, tmp_path, "bad2")
    idx = json.loads((dst2 / "model_index.json").read_text())
    idx["unet"] = ["diffusers", "UNet9DModel"]
    (dst2 / "model_index.json").write_text(json.dumps(idx))
    msg = _error(dst2)
    assert "'unet'" in msg and "UNet9DModel" in msg and "lacks" in msg


def test_errors_reach_the_pipeline_node(folders, tmp_path):
    dst = _copy(folders, tmp_path)
    os.remove(dst / "unet" / "diffusion_pytorch_model.safetensors")
    d = F.pipeline_dict(str(dst), {"type": "process", "kind": "ddpm-discrete", "params": {}},
                        {"kind": "ddim", "steps": 2})
    with pytest.raises(StudioError, match=r"node 'n'\.params\.path.*no weights"):
        Pipeline.from_dict(d, source="p.json").build()
    d["nodes"]["n"]["params"]["path"] = str(tmp_path / "nowhere")
    with pytest.raises(StudioError, match="not a folder"):
        Pipeline.from_dict(d).build()


def test_inverse_problem_guidance_on_a_pixel_model(folders):
    """Inverse-problem guidance through the diffusers UNet: DDNM inpainting keeps the observed
    pixels at y (the network's [-1, 1] units; samples in [0, 1]); unguided samples do not."""
    mask = np.zeros((3, 8, 8))
    mask[:, :4] = 1
    y = np.full((3, 8, 8), 0.6)
    proc = {"type": "process", "kind": "ddpm-discrete", "params": {}}
    res = {}
    for name, guidance in (("plain", None), ("ddnm", {
            "kind": "ddnm", "operator": {"kind": "inpaint", "mask": mask.tolist()},
            "y": y.tolist()})):
        d = F.pipeline_dict(folders["uncond"], proc, {"kind": "ddim", "steps": 6},
                            guidance=guidance)
        res[name] = Pipeline.from_dict(d).build().run()["s"].samples
    err = {k: float((v[:, :, :4] - 0.8).abs().max()) for k, v in res.items()}
    assert err["ddnm"] < 1e-3 < 0.1 < err["plain"], err


def test_variant_only_weights(tmp_path):
    """A folder holding only fp16-variant weights (diffusion_pytorch_model.fp16.safetensors)."""
    unet = F.tiny_unet2d().half()
    path = tmp_path / "fp16"
    diffusers.DDIMPipeline(unet=unet, scheduler=F.sched("DDIMScheduler", **F.DDPM_SCHED)
                           ).save_pretrained(path, safe_serialization=True, variant="fp16")
    assert (path / "unet" / "diffusion_pytorch_model.fp16.safetensors").exists()
    from studio.core.hf.cards import inspect_card
    card = inspect_card(str(path))
    assert card["dtype"] == "F16" and card["components"]["unet"]["parameters"] > 0
    res = studio_run(str(path), "ddim", {"steps": 2}).run()["s"]
    assert res.samples.shape == (2, 3, 8, 8) and torch.isfinite(res.samples).all()


def test_without_diffusers_installed(folders, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "diffusers", None)
    msg = _error(folders["uncond"])
    assert "pip install 'diffusion-studio[diffusers]'" in msg


def test_every_registered_solver_runs_a_diffusers_model(folders):
    from studio.core.registry import SOLVERS
    proc = {"type": "process", "kind": "ddpm-discrete", "params": {}}
    for sid in SOLVERS.ids():
        if getattr(SOLVERS.get(sid), "jumps", False):
            continue  # flow-map samplers need a flow-map network (a diffusers UNet has none)
        budget = ({"nfe": 400, "rtol": 0.05, "atol": 0.05} if SOLVERS.get(sid).adaptive
                  else {"steps": 2})
        if getattr(SOLVERS.get(sid), "fitted", False):  # bns, amed: the fit is tested elsewhere
            budget["fit"] = False
        d = F.pipeline_dict(folders["uncond"], proc, {"kind": sid, **budget}, batch=1)
        res = Pipeline.from_dict(d).build().run()["s"]
        assert res.samples.shape == (1, 3, 8, 8) and torch.isfinite(res.samples).all(), sid

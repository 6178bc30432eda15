"""The training loop: an object that yields progress events, for the CLI and the app alike.

    trainer = Trainer(TrainConfig.load("moons.json"))   # or Trainer.resume("ck.safetensors")
    control = TrainControl()                            # pause() resume() cancel(), any thread
    for ev in trainer.run(control):                     # in a worker thread
        ...                                             # TrainProgress, TrainPreview, TrainFinished
    trainer.save_checkpoint("ck.safetensors")           # resumable, bit-exact
    trainer.export("model.safetensors")                 # the model file (EMA weights)

Everything random (batches, times, noise, class dropout) comes from one CPU generator seeded from
the config, saved in checkpoints with the weights, the EMA, the optimiser state and the global
RNG state (dropout), so a resumed run continues bit for bit. Checkpoints are safetensors with JSON
metadata: nothing is ever unpickled.
"""
from __future__ import annotations

import copy
import datetime
import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import StudioError
from ..modelfile import LoadedModel, ModelSpec, read_container, save_model, save_tensors_atomic
from ..nn.denoising import DenoisingModel, default_time_input
from .config import TrainConfig
from .data import Data
from ..modelfile import FLOW_MAP
from ..nn.flowmap import TIME_PAIR, FlowMapModel
from .distributed import DistContext
from .flowmap_objectives import FLOW_OBJECTIVES, FlowMapObjective, check_flow_map_task
from .objectives import Objective

CHECKPOINT_FORMAT = "studio.checkpoint/1"


# -- events and control ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainProgress:
    step: int
    steps: int
    #: mean loss over the steps since the previous progress event
    loss: float
    lr: float
    #: training seconds so far (pauses and previews excluded)
    elapsed: float
    steps_per_second: float

    @property
    def fraction(self) -> float:
        return self.step / max(self.steps, 1)

    @property
    def eta(self) -> float:
        return (self.steps - self.step) / self.steps_per_second if self.steps_per_second > 0 else 0.0


@dataclass(frozen=True)
class TrainPreview:
    step: int
    #: samples in the data's units: [N, 2] points or [N, C, H, W] images in [0, 1]
    samples: Tensor
    labels: Optional[Tensor]
    seconds: float


@dataclass(frozen=True)
class TrainFinished:
    step: int
    steps: int
    cancelled: bool
    loss: float
    elapsed: float


TrainEvent = Union[TrainProgress, TrainPreview, TrainFinished]


class TrainControl:
    """Thread-safe pause / resume / cancel, checked by :meth:`Trainer.run` between steps."""

    def __init__(self) -> None:
        self._go = threading.Event()
        self._go.set()
        self._cancel = threading.Event()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._go.set()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self) -> bool:
        """Block while paused; False once cancelled."""
        while not self._go.wait(0.1):
            pass
        return not self._cancel.is_set()


# -- the trainer -----------------------------------------------------------------------------------
def normalisation(data: Data) -> tuple[object, object]:
    """(shift, scale): model = (data - shift) / scale. Images -> [-1, 1]; points -> centred, unit
    overall standard deviation (one scale for every coordinate, so shapes keep their aspect)."""
    if data.kind == "image":
        lo, hi = data.range or [0.0, 1.0]
        return (lo + hi) / 2.0, (hi - lo) / 2.0
    x = data.x.reshape(len(data.x), -1).astype(np.float64)
    shift = x.mean(0)
    scale = float(np.sqrt(((x - shift) ** 2).mean())) or 1.0
    return [float(v) for v in shift], scale


class Trainer:
    def __init__(self, config: TrainConfig, device: str = "cpu", data: Data | None = None,
                 dist: "DistContext | None" = None):
        self.config = config
        self.device = torch.device(device)
        #: data-parallel context (torchrun); each process trains its shard of the global batch
        self.dist = dist or DistContext()
        where = config.source or "config"
        self.data = data if data is not None else config.build_dataset().load(config.seed)
        if len(self.data.x) == 0:
            raise StudioError("the data set is empty", f"{where}: data")
        self.process = config.build_process()
        self.arch = config.build_architecture()
        shape = self.data.shape
        conditional = config.conditional
        if conditional and self.data.labels is None:
            raise StudioError(f"data set {config.data['kind']!r} has no labels; set "
                              "data.conditional to false", f"{where}: data.conditional")
        self.num_classes = self.data.num_classes if conditional else 0
        #: a noise-conditional classifier (objective target "classifier") instead of a denoiser
        self.is_classifier = config.objective.target == "classifier"
        #: a flow-map model (x_t, t, s) -> x_s (a flow-map objective), with its optional teacher
        self.is_flow_map = config.objective.target in FLOW_OBJECTIVES
        self.teacher = None
        if self.is_flow_map and config.objective.teacher:
            from .teacher import Teacher
            self.teacher = Teacher.from_config(config.objective.teacher, config.base_dir,
                                               self.process, config.objective.teacher_steps,
                                               f"{where}: objective.teacher")
        self._check_task(where)
        try:
            self.arch.check(shape, self.num_classes)
        except StudioError as exc:
            raise StudioError(f"{exc.problem} (data set {config.data['kind']!r})",
                              f"{where}: architecture") from None
        self.fingerprint = self.data.fingerprint()
        # a student works in its teacher's units (the teacher's velocity is defined there)
        self.shift, self.scale = self.teacher.units if self.teacher is not None else \
            normalisation(self.data)
        #: the normalisation alone (model units <-> data units)
        self.units = ModelSpec("", {}, "x0", {}, list(shape), data_range=self.data.range,
                               shift=self.shift, scale=self.scale)
        self.x = self.units.to_model_units(torch.as_tensor(self.data.x, dtype=torch.float32))
        self.labels = (torch.as_tensor(self.data.labels, dtype=torch.long)
                       if conditional else None)
        obj = config.objective
        self.sigma_data = float(obj.sigma_data) if obj.sigma_data else \
            max(float(self.x.std()), 1e-3)
        self.time_input = obj.time_input if obj.time_input != "auto" else \
            default_time_input(self.process)
        from ..cost import training_estimate
        training_estimate(self.arch, tuple(shape), self.num_classes, config.optim.batch,
                          len(self.data.x)).check(self.device, f"{where}: optim.batch")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            net = self.arch.module(shape, self.num_classes)
        if self.is_flow_map and obj.init_from_teacher:
            from .warmstart import check_warm_start, load_teacher_weights
            spec = check_warm_start(config, self.teacher, self.process, where)
            self.sigma_data, self.time_input = spec.sigma_data, spec.time_input
            load_teacher_weights(net, self.teacher, where)
        model_cls = FlowMapModel if self.is_flow_map else DenoisingModel
        kind = obj.flow_parameterization if self.is_flow_map else self.parameterization
        self.model = model_cls(net, self.process, kind, obj.precond, self.sigma_data,
                               self.time_input, self.num_classes).to(self.device)
        self.ema = copy.deepcopy(self.model)
        for p in self.ema.parameters():
            p.requires_grad_(False)
        o = config.optim
        self.opt = torch.optim.AdamW(self.model.net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2),
                                     weight_decay=o.weight_decay)
        self.gen = torch.Generator().manual_seed(config.seed + 1)
        self.objective = FlowMapObjective(obj, self.process, self.gen, self.teacher, o.steps) \
            if self.is_flow_map else Objective(obj, self.process)
        self.step = 0
        self.elapsed = 0.0
        self.history: list[tuple[int, float]] = []
        self.last_loss = float("nan")

    def _check_task(self, where: str) -> None:
        """A classifier objective needs labels, a classifier architecture and no preconditioning;
        a denoising objective needs an architecture whose output is shaped like x."""
        output = getattr(self.arch, "output", "field")
        if self.is_classifier:
            if not self.config.conditional:
                raise StudioError("a classifier learns the class of x_t: train it on a labelled "
                                  "data set with data.conditional true", f"{where}: data.conditional")
            if output != "logits":
                raise StudioError(f"architecture {self.arch.id!r} predicts a field, not classes: "
                                  "use the 'classifier' architecture", f"{where}: architecture.id")
            if self.config.objective.precond != "none":
                raise StudioError("a classifier takes no preconditioning: set it to none",
                                  f"{where}: objective.precond")
        elif self.is_flow_map:
            check_flow_map_task(self.config, self.arch, self.teacher, self.data, where)
        elif output == "logits":
            raise StudioError(f"architecture {self.arch.id!r} is a classifier: set objective."
                              "target to 'classifier' (or pick a denoising architecture)",
                              f"{where}: objective.target")

    @property
    def parameterization(self) -> str:
        """What the model file declares: the objective's target, "logits" for a classifier,
        "flow-map" for a flow map."""
        if self.is_flow_map:
            return FLOW_MAP
        return "logits" if self.is_classifier else self.config.objective.target

    # -- one step ------------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return self.config.optim.steps

    def lr_at(self, step: int) -> float:
        """Warm-up then cosine decay to min_lr * lr, for the update made at ``step`` (0-based)."""
        o = self.config.optim
        if step < o.warmup:
            return o.lr * (step + 1) / o.warmup
        span = max(o.steps - o.warmup, 1)
        frac = min((step - o.warmup) / span, 1.0)
        return o.lr * (o.min_lr + (1 - o.min_lr) * 0.5 * (1 + math.cos(math.pi * frac)))

    def train_step(self) -> float:
        o, g = self.config.optim, self.gen
        self.model.train()
        idx = torch.randint(0, len(self.x), (o.batch,), generator=g)
        x0 = self.x[idx].to(self.device)
        labels = None
        if self.labels is not None:
            labels = self.labels[idx].clone()
            if o.class_dropout > 0 and not self.is_classifier:
                drop = torch.rand(o.batch, generator=g) < o.class_dropout
                labels[drop] = -1
            labels = labels.to(self.device)
        self.objective.step = self.step
        t = self.objective.sample_times(o.batch, g)
        eps = torch.randn(x0.shape, generator=g).to(self.device)
        if self.dist.world > 1:  # this process's shard of the same global batch
            part = self.dist.shard(o.batch)
            x0, eps, t = x0[part], eps[part], t[part]
            labels = labels[part] if labels is not None else None
        loss = self.objective.loss(self.model, x0, eps, t, labels)
        if not torch.isfinite(loss):
            raise StudioError(f"the loss became {float(loss)} at step {self.step + 1}; lower the "
                              "learning rate or enable gradient clipping", "training")
        lr = self.lr_at(self.step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(self.model.net.parameters())
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.net.parameters(), o.grad_clip)
        self.opt.step()
        self._update_ema()
        self.step += 1
        self.last_loss = self.dist.mean(float(loss.detach()))
        return self.last_loss

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.optim.ema
        decay = min(decay, (1.0 + self.step) / (10.0 + self.step))
        for pe, pm in zip(self.ema.net.parameters(), self.model.net.parameters()):
            pe.lerp_(pm.detach(), 1.0 - decay)
        for be, bm in zip(self.ema.net.buffers(), self.model.net.buffers()):
            be.copy_(bm)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, control: TrainControl | None = None, steps: int | None = None,
            checkpoint: str | None = None) -> Iterator[TrainEvent]:
        """Train until ``config.optim.steps`` (or ``steps`` more), yielding events.

        Progress every ``log_every`` steps, a preview every ``preview.every`` steps, a checkpoint
        to ``checkpoint`` every ``checkpoint_every`` steps; a cancel ends with
        ``TrainFinished(cancelled=True)`` after the step in flight (the state stays resumable).
        """
        control = control or TrainControl()
        cfg = self.config
        stop = self.steps if steps is None else min(self.steps, self.step + steps)
        acc, n_acc = 0.0, 0
        mark_step, mark_time = self.step, self.elapsed
        cancelled = False
        while self.step < stop:
            if not control.wait():
                cancelled = True
                break
            t0 = time.perf_counter()
            loss = self.train_step()
            self.elapsed += time.perf_counter() - t0
            acc, n_acc = acc + loss, n_acc + 1
            if self.step % max(cfg.log_every, 1) == 0 or self.step == stop:
                mean = acc / n_acc
                self.history.append((self.step, mean))
                rate = (self.step - mark_step) / max(self.elapsed - mark_time, 1e-9)
                yield TrainProgress(self.step, self.steps, mean, self.lr_at(self.step - 1),
                                    self.elapsed, rate)
                acc, n_acc = 0.0, 0
                mark_step, mark_time = self.step, self.elapsed
            if cfg.preview.every and self.step % cfg.preview.every == 0 and not self.is_classifier:
                yield self.preview()
            if checkpoint and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint(checkpoint)
        yield TrainFinished(self.step, self.steps, cancelled, self.recent_loss(), self.elapsed)

    def recent_loss(self, window: int = 5) -> float:
        if not self.history:
            return self.last_loss
        tail = self.history[-window:]
        return float(sum(v for _, v in tail) / len(tail))

    # -- sampling ------------------------------------------------------------------------------
    def spec(self, name: str | None = None, description: str | None = None,
             preview_png: bytes | None = None) -> ModelSpec:
        cfg = self.config
        o = cfg.optim
        from ..params import to_params
        from .objectives import resolved_t_sampling, resolved_weighting
        training = {
            "dataset": {"kind": cfg.data["kind"], "params": cfg.data.get("params", {}),
                        "items": int(len(self.x)), "fingerprint": self.fingerprint},
            "objective": cfg.objective.target, "weighting": resolved_weighting(cfg.objective),
            "t_sampling": resolved_t_sampling(cfg.objective, self.process),
            "steps": self.step, "batch": o.batch, "lr": o.lr, "ema": o.ema,
            "class_dropout": self.class_dropout,
            "loss": self.recent_loss(), "seconds": round(self.elapsed, 2), "seed": cfg.seed,
            "device": str(self.device), "date": datetime.date.today().isoformat(),
        }
        if self.is_classifier:
            training["accuracy"] = self.accuracy_by_noise()
        if self.teacher is not None:
            training["teacher"] = cfg.objective.teacher
            if cfg.objective.init_from_teacher:
                training["init"] = "teacher"
        flow_map = {"time_pair": TIME_PAIR, "velocity_parameterization":
                    cfg.objective.flow_parameterization} if self.is_flow_map else None
        return ModelSpec(
            architecture=self.arch.id, arch_config=to_params(self.arch),
            parameterization=self.parameterization,
            process={"kind": self.process.id, "params": to_params(self.process)},
            data_shape=list(self.data.shape), data_kind=self.data.kind,
            data_range=self.data.range, shift=self.shift, scale=self.scale,
            precond=cfg.objective.precond, sigma_data=self.sigma_data, time_input=self.time_input,
            num_classes=self.num_classes,
            class_dropout=self.class_dropout,
            class_names=list(self.data.class_names) if self.num_classes else None,
            training=training, name=name if name is not None else cfg.name,
            description=description if description is not None else cfg.description,
            preview_png=preview_png, flow_map=flow_map)

    @property
    def class_dropout(self) -> float:
        o = self.config.optim
        return float(o.class_dropout) if self.num_classes and not self.is_classifier else 0.0

    @torch.no_grad()
    def accuracy_by_noise(self, levels=(8.0, 4.0, 2.0, 0.0, -2.0, -4.0), n: int = 2000,
                          seed: int = 0) -> list[dict]:
        """The (EMA) classifier's accuracy on up to ``n`` training items noised to each log-SNR
        level (fixed noise), for the model card: [{"logsnr": l, "accuracy": a}, ...]."""
        model = self.ema
        was = model.training
        model.eval()
        try:
            g = torch.Generator().manual_seed(seed)
            idx = torch.randperm(len(self.x), generator=g)[:n]
            x0, y = self.x[idx].to(self.device), self.labels[idx].to(self.device)
            out = []
            for lam in levels:
                t = self.process.t_of_logsnr(torch.tensor(float(lam), dtype=torch.float64))
                t = torch.clamp(t, self.process.t_min, self.process.t_max).expand(len(x0))
                c = model.coefficients(t)
                view = (len(x0),) + (1,) * (x0.ndim - 1)
                eps = torch.randn(x0.shape, generator=g).to(self.device)
                x_t = (c["alpha"].reshape(view) * x0.double().cpu()
                       + c["sigma"].reshape(view) * eps.double().cpu()).to(self.device, x0.dtype)
                pred = model.raw(x_t, c, None).argmax(dim=1)
                out.append({"logsnr": float(lam), "accuracy": round(float((pred == y).double().mean()), 4)})
            return out
        finally:
            model.train(was)

    def network(self, ema: bool = True):
        """The (EMA) model as a pipeline network (kind ``file``), sharing the live weights."""
        if self.is_classifier:
            raise StudioError("a classifier is not a denoiser: it guides one (classifier guidance)",
                              "training")
        from ..networks.file import FileNetwork
        model = self.ema if ema else self.model
        loaded = LoadedModel("<training>", self.spec(), model)
        return FileNetwork(path="<training>", _loaded=loaded)

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None, steps: int | None = None,
               solver: str | None = None, seed: int | None = None, ema: bool = True) -> Tensor:
        """n samples in data units from the (EMA) model, with the preview solver by default."""
        from ..model import Denoiser
        from ..pipeline import build_solver
        from ..runner import SamplingRun
        pv = self.config.preview
        net = self.network(ema)
        model = self.ema if ema else self.model
        was_training = model.training
        model.eval()
        try:
            s = build_solver(solver or pv.solver, {"steps": steps or pv.steps}, "preview.solver")
            seed = self.config.seed + 2 if seed is None else seed
            z = torch.randn((n,) + tuple(self.data.shape), generator=torch.Generator().manual_seed(seed),
                            dtype=torch.float64)
            x_T = (self.process.prior_std * z).to(self.device, torch.float32)
            run = SamplingRun(Denoiser(net, self.process, labels=labels), s, x_T, seed=seed)
            return run.run().samples
        finally:
            model.train(was_training)

    def preview_labels(self, n: int) -> Tensor | None:
        return torch.arange(n) % self.num_classes if self.num_classes else None

    def preview(self) -> TrainPreview:
        t0 = time.perf_counter()
        pv = self.config.preview
        labels = self.preview_labels(pv.count)
        samples = self.sample(pv.count, labels)
        return TrainPreview(self.step, samples, labels, time.perf_counter() - t0)

    def preview_png(self) -> bytes:
        """The model browser's preview, sampled from the EMA weights."""
        from .preview import classifier_preview_png, model_preview_png
        if self.is_classifier:
            return classifier_preview_png(self)
        return model_preview_png(self.network(), self.process, seed=self.config.seed + 3)

    # -- export, checkpoints -------------------------------------------------------------------
    def export(self, path: str, name: str | None = None, description: str | None = None,
               preview: bool = True) -> ModelSpec:
        """Write the model file (EMA weights, metadata, preview) atomically."""
        spec = self.spec(name, description, self.preview_png() if preview else None)
        save_model(path, self.ema.net.state_dict(), spec)
        return spec

    def save_checkpoint(self, path: str) -> None:
        tensors: dict[str, Tensor] = {}
        for k, v in self.model.net.state_dict().items():
            tensors[f"model/{k}"] = v.detach().cpu().contiguous()
        for k, v in self.ema.net.state_dict().items():
            tensors[f"ema/{k}"] = v.detach().cpu().contiguous()
        for i, st in self.opt.state_dict()["state"].items():
            for k, v in st.items():
                tensors[f"optim/{i}/{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        tensors["rng/train"] = self.gen.get_state()
        tensors["rng/global"] = torch.get_rng_state()
        state = {"config": self.config.to_dict(), "base_dir": self.config.base_dir,
                 "step": self.step, "elapsed": self.elapsed, "history": self.history,
                 "last_loss": self.last_loss, "data_fingerprint": self.fingerprint}
        save_tensors_atomic(path, tensors, {"format": CHECKPOINT_FORMAT,
                                            "state": json.dumps(state)})

    @classmethod
    def resume(cls, path: str, device: str = "cpu", data: Data | None = None,
               steps: int | None = None) -> "Trainer":
        """A trainer restored from a checkpoint; ``steps`` raises the total budget if given."""
        from safetensors.torch import load as st_load
        if not str(path).endswith(".safetensors"):
            raise StudioError("a checkpoint is a .safetensors file", str(path))
        try:
            c = read_container(path)
        except StudioError as exc:
            raise StudioError(exc.problem, str(path)) from None
        if c.metadata.get("format") != CHECKPOINT_FORMAT:
            raise StudioError(f"not a training checkpoint (format {c.metadata.get('format')!r})",
                              str(path))
        try:
            state = json.loads(c.metadata["state"])
        except (KeyError, json.JSONDecodeError):
            raise StudioError("checkpoint state is missing or not valid JSON", str(path)) from None
        cfg_dict = state["config"]
        if steps is not None:
            cfg_dict["optim"]["steps"] = steps
        cfg = TrainConfig.from_dict(cfg_dict, state.get("base_dir", ""), str(path))
        tr = cls(cfg, device, data)
        if tr.fingerprint != state.get("data_fingerprint"):
            raise StudioError("the training data changed since this checkpoint was written",
                              str(path))
        with open(path, "rb") as fh:
            tensors = st_load(fh.read())
        try:
            tr.model.net.load_state_dict({k[6:]: v for k, v in tensors.items()
                                          if k.startswith("model/")})
            tr.ema.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema/")})
            opt_state = tr.opt.state_dict()
            per: dict[int, dict] = {}
            for k, v in tensors.items():
                if k.startswith("optim/"):
                    _, i, name = k.split("/", 2)
                    per.setdefault(int(i), {})[name] = v
            opt_state["state"] = per
            tr.opt.load_state_dict(opt_state)
            tr.gen.set_state(tensors["rng/train"])
            torch.set_rng_state(tensors["rng/global"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise StudioError(f"checkpoint does not match its configuration: {exc}",
                              str(path)) from None
        tr.step = int(state["step"])
        tr.elapsed = float(state["elapsed"])
        tr.history = [tuple(h) for h in state.get("history", [])]
        tr.last_loss = float(state.get("last_loss", float("nan")))
        return tr

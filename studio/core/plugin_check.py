"""``studio plugins check FILE``: the conformance checks of the test suite, run on one plugin file.

For every solver the file registers: the empirical order of convergence on Gaussian data against
the closed-form PF-ODE (deterministic fixed-grid solvers; within 0.3 of the declared ``order``),
that the run is a function of the seed (and, for a stochastic solver, that another seed changes
it), that the declared nfe budget is what the run spends, and that its parameters survive a JSON
round trip. For every other plugin (process, network, guidance, schedule) that its parameters with
their defaults survive a JSON round trip. Each check is a :class:`Check` (name, passed, detail).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import StudioError
from .params import build, to_params

GAUSS = {"mean": [0.5, -0.3], "cov": [[1.0, 0.3], [0.3, 0.5]]}
GMM8 = {"means": [[4 * math.cos(k * math.pi / 4), 4 * math.sin(k * math.pi / 4)] for k in range(8)],
        "vars": [[0.1, 0.1]] * 8}


@dataclass
class Check:
    plugin: str
    name: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict:
        return {"plugin": self.plugin, "check": self.name, "passed": self.passed,
                "detail": self.detail}


def _setup(pid: str, n: int, seed: int = 0):
    from .registry import NETWORKS, PROCESSES
    proc = build(PROCESSES.get(pid), {}, pid)
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, 2, generator=g, dtype=torch.float64) * proc.prior_std
    return proc, NETWORKS, x_T


def _solve(sid, proc, net, x_T, seed=0, **params):
    from .model import Denoiser
    from .pipeline import build_solver
    from .runner import SamplingRun
    run = SamplingRun(Denoiser(net, proc), build_solver(sid, params, sid), x_T, seed=seed)
    return run, run.run()


def check_solver(sid: str) -> list[Check]:
    from .pipeline import build_solver
    from .registry import SOLVERS
    cls = SOLVERS.get(sid)
    out = []
    proc, nets, x_T = _setup("edm", 64)
    if not cls.stochastic and not cls.adaptive:
        net = build(nets.get("gaussian"), GAUSS, "gaussian")
        ns = [10, 20, 40, 80] if cls.order < 3 else [32, 64, 128, 256]
        errs = []
        for n in ns:
            run, res = _solve(sid, proc, net, x_T, steps=n, schedule="karras")
            exact = net.ode_denoised(x_T, run.ts[0], run.ts[-1], proc)
            errs.append(float((res.samples - exact).pow(2).mean().sqrt()))
        slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
        out.append(Check(sid, "order", bool(abs(slope - cls.order) <= 0.3),
                         f"measured {slope:.2f}, declared {cls.order} (steps {ns})"))
    else:
        out.append(Check(sid, "order", True, "not measured: stochastic or adaptive solver"))
    gmm = build(nets.get("gmm"), GMM8, "gmm")
    vp, _, x_vp = _setup("vp-linear", 32)
    budget = {} if cls.adaptive else {"nfe": 20}
    _, a = _solve(sid, vp, gmm, x_vp, seed=3, **budget)
    _, b = _solve(sid, vp, gmm, x_vp, seed=3, **budget)
    ok, detail = bool(torch.equal(a.samples, b.samples)), "same seed, same samples"
    if ok and build_solver(sid, {}, sid).is_stochastic():
        _, c = _solve(sid, vp, gmm, x_vp, seed=4, **budget)
        ok = not torch.equal(a.samples, c.samples)
        detail = "same seed same samples; another seed other samples"
    out.append(Check(sid, "determinism by seed", ok, detail if ok else "failed: " + detail))
    if not cls.adaptive:
        solver = build_solver(sid, {"nfe": 25}, sid)
        _, res = _solve(sid, proc, gmm, x_T[:8], nfe=25)
        want = solver.nfe_for_steps(solver.num_steps())
        out.append(Check(sid, "nfe budget", bool(res.nfe <= 25 and res.nfe == want),
                         f"budget 25, spent {res.nfe}, declared {want}"))
    solver = build_solver(sid, {"nfe": 12, "schedule": "karras"}, sid)
    params = {k: v for k, v in to_params(solver).items() if k != "schedule_params"}
    params.update(solver.schedule_params)
    again = build_solver(sid, json.loads(json.dumps(params)), sid)
    out.append(Check(sid, "JSON round trip", bool(to_params(again) == to_params(solver)),
                     "parameters -> JSON -> parameters"))
    return out


def check_plain(registry, pid: str) -> list[Check]:
    cls = registry.get(pid)
    try:
        obj = build(cls, {}, pid)
        params = json.loads(json.dumps(to_params(obj), default=str))
        again = build(cls, params, pid)
        return [Check(pid, "JSON round trip", bool(to_params(again) == to_params(obj)),
                      "parameters -> JSON -> parameters")]
    except StudioError as exc:
        return [Check(pid, "JSON round trip", True, f"not checked: needs parameters ({exc})")]


def check_file(path: str) -> tuple[object, list[Check]]:
    """Import ``path`` (a plugin file) and run the checks on what it registers."""
    import os
    from .registry import ALL_REGISTRIES
    from .user_plugins import import_file
    if not os.path.isfile(path):
        raise StudioError("no such file", path)
    for r in ALL_REGISTRIES:
        r._load()
    rec = import_file(path)
    if not rec.ok:
        return rec, []
    checks = []
    by_kind = {r.kind: r for r in ALL_REGISTRIES}
    for item in rec.registered:
        kind, pid = item.split(":", 1)
        if kind == "solver":
            try:
                checks += check_solver(pid)
            except Exception as exc:   # a crash is a failed check, named
                checks.append(Check(pid, "runs", False, f"{type(exc).__name__}: {exc}"))
        else:
            checks += check_plain(by_kind[kind], pid)
    return rec, checks

"""Fitted solvers (every registered solver with ``fitted``): the base solver when the fit is
skipped, better than it when fitted (on noise the fit never saw), fitted on particles of their
own, cached, and saved with the pipeline so that a reloaded pipeline reproduces the samples bit
for bit without fitting."""
from __future__ import annotations

import json

import pytest
import torch

from studio.core import difffit
from studio.core.model import Denoiser
from studio.core.pipeline import Pipeline, build_solver
from studio.core.registry import SOLVERS
from studio.core.runner import SamplingRun
from studio.core.schedule_opt import _reference
from studio.core.solvers import _fitted

from .helpers import GMM8, network, prior, process

FITTED = [s for s in SOLVERS.ids() if getattr(SOLVERS.get(s), "fitted", False)]
FAST = {"fit_particles": 48, "fit_iterations": 40}


def _run(sid, params, proc, net, x_T):
    solver = build_solver(sid, params, sid)
    return solver, SamplingRun(Denoiser(net, proc), solver, x_T).run()


@pytest.mark.parametrize("sid", FITTED)
@pytest.mark.parametrize("pid", ["edm", "vp-linear"])
def test_unfitted_is_the_base_solver(sid, pid):
    proc, net = process(pid), network("gmm", **GMM8)
    x_T = prior(proc, 64)
    base_id, base_params = SOLVERS.get(sid).base
    _, ref = _run(base_id, {"nfe": 9, **base_params}, proc, net, x_T)
    for skip in ({"fit": False}, {"fit_max_steps": 2}):
        _, res = _run(sid, {"nfe": 9, **skip}, proc, net, x_T)
        assert res.nfe == ref.nfe
        torch.testing.assert_close(res.samples, ref.samples, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sid", FITTED)
def test_fit_beats_base_on_noise_it_never_saw(sid, monkeypatch):
    _fitted.clear_cache()
    proc, net = process("edm"), network("gmm", **GMM8)
    x_T = prior(proc, 200, seed=0)  # a run's noise: what the pipeline with seed 0 would draw
    seen = []
    real = difffit.solve
    monkeypatch.setattr(difffit, "solve", lambda den, s, x, ts: seen.append(x) or real(den, s, x, ts))
    solver, res = _run(sid, {"nfe": 6, **FAST}, proc, net, x_T)
    info = solver.fit_info
    assert info is not None and info.seconds > 0 and 0 < info.evaluations <= FAST["fit_iterations"]
    assert info.error < info.initial_error
    # the fit's particles are its own: none of them is a particle of the run's noise
    assert seen and all(torch.cdist(x.to(torch.float64), x_T).min() > 1e-3 for x in seen)
    den = Denoiser(net, proc)
    ref, _ = _reference(den, x_T, proc.t_max, proc.t_min, True, 1e-9)
    base_id, base_params = SOLVERS.get(sid).base
    _, base = _run(base_id, {"nfe": 6, **base_params}, proc, net, x_T)
    err = lambda s: float((s - ref).pow(2).mean().sqrt())  # noqa: E731
    assert err(res.samples) < 0.5 * err(base.samples), (err(res.samples), err(base.samples))


SAVED = ([(sid, FAST) for sid in FITTED] + [("bns", {**FAST, "final_eval": False}),
                                             ("amed", {**FAST, "predictor": True}),
                                             ("bns", {**FAST, "predictor": True})]
         + [("ipndm", {"schedule": "optimized", "particles": 48, "evaluations": 40}),
            ("dpm-solver++-2m", {"schedule": "ld3", "particles": 48, "evaluations": 40})])


@pytest.mark.parametrize("sid, fit", SAVED)
def test_saved_pipeline_reproduces_without_refitting(sid, fit, monkeypatch, tmp_path):
    from studio.core import schedule_ld3, schedule_opt
    _fitted.clear_cache()
    schedule_opt.clear_cache()
    schedule_ld3.clear_cache()
    data = {"format": "studio.pipeline/1",
            "nodes": {"proc": {"type": "process", "kind": "vp-linear", "params": {}},
                      "model": {"type": "network", "kind": "gmm", "params": GMM8},
                      "solver": {"type": "solver", "kind": sid, "params": {"nfe": 5, **fit}}},
            "links": [["proc", "model"], ["model", "solver"]],
            "run": {"batch": 32, "seed": 1, "dtype": "float64"}}
    built = Pipeline.from_dict(data).build()
    first = built.run()["solver"].samples
    again = built.run()["solver"].samples  # cached: the same fit, the same samples
    assert torch.equal(first, again)
    frozen, seconds = difffit.freeze_pipeline(built)
    params = frozen["nodes"]["solver"]["params"]
    assert params["schedule"] == "custom" and len(params["timepoints"]) == built.solvers["solver"].num_steps() + 1
    assert ("coefficients" in params) == (sid in FITTED) and seconds["solver"] < 5.0
    path = tmp_path / "fitted.json"
    path.write_text(json.dumps(frozen))
    _fitted.clear_cache()
    schedule_opt.clear_cache()
    schedule_ld3.clear_cache()
    monkeypatch.setattr(_fitted, "fit_solver", lambda *a, **k: pytest.fail("refitted"))
    monkeypatch.setattr(schedule_opt, "optimize_schedule", lambda *a, **k: pytest.fail("refitted"))
    monkeypatch.setattr(schedule_ld3, "fit_ld3", lambda *a, **k: pytest.fail("refitted"))
    reloaded = Pipeline.load(str(path)).build()
    assert not difffit.is_fitted(reloaded.solvers["solver"])
    assert torch.equal(reloaded.run()["solver"].samples, first)


@pytest.mark.parametrize("pid", ["edm", "vp-linear"])
def test_bns_without_final_eval_is_ipndm_without_the_final_denoise(pid):
    """final_eval off: the budget buys one more step (no evaluation at t_min); unfitted the
    output is iPNDM's last state on that grid, and the run still counts as denoised."""
    proc, net = process(pid), network("gmm", **GMM8)
    x_T = prior(proc, 64)
    solver = build_solver("bns", {"nfe": 9, "final_eval": False}, "bns")
    assert solver.num_steps() == 9 and build_solver("bns", {"nfe": 9}, "b").num_steps() == 8
    assert solver.n_coefficients(9) == 90
    _, ref = _run("ipndm", {"steps": 9, "denoise_final": False}, proc, net, x_T)
    for skip in ({"fit": False}, {"fit_max_steps": 2}):
        _, res = _run("bns", {"nfe": 9, "final_eval": False, **skip}, proc, net, x_T)
        assert res.nfe == ref.nfe == 9
        torch.testing.assert_close(res.samples, ref.samples, rtol=1e-10, atol=1e-10)


def test_bns_without_final_eval_fits_the_denoised_endpoint():
    _fitted.clear_cache()
    proc, net = process("edm"), network("gmm", **GMM8)
    x_T = prior(proc, 200, seed=0)
    solver, res = _run("bns", {"nfe": 6, "final_eval": False, **FAST}, proc, net, x_T)
    assert res.nfe == 6 and solver.num_steps() == 6
    assert solver.fit_info.error < solver.fit_info.initial_error
    ref, _ = _reference(Denoiser(net, proc), x_T, proc.t_max, proc.t_min, True, 1e-9)
    _, base = _run("ipndm", {"steps": 6, "denoise_final": False}, proc, net, x_T)
    err = lambda s: float((s - ref).pow(2).mean().sqrt())  # noqa: E731
    assert err(res.samples) < 0.5 * err(base.samples), (err(res.samples), err(base.samples))


PREDICTORS = [("amed", {}, "dpm-solver-2", {}), ("bns", {}, "ipndm", {}),
              ("bns", {"final_eval": False}, "ipndm", {"denoise_final": False})]


@pytest.mark.parametrize("sid, extra, base_id, base_params", PREDICTORS)
@pytest.mark.parametrize("pid", ["edm", "vp-linear"])
def test_predictor_unfitted_is_the_base_and_each_sample_is_its_own(pid, sid, extra, base_id,
                                                                    base_params):
    """The per-sample predictor (amed, bns): zero head weights are the constant coefficients
    (unfitted: the base solver); with weights, every sample gets its own coefficients (amed: its
    own intermediate times), and a sample's result does not depend on the others in its batch."""
    proc, net = process(pid), network("gmm", **GMM8)
    x_T = prior(proc, 12)
    params = {"nfe": 8, "predictor": True, **extra}
    solver = build_solver(sid, {**params, "fit": False}, sid)
    n = solver.num_steps()
    constant = build_solver(sid, {**extra, "nfe": 8}, sid).n_coefficients(n)
    assert solver.n_coefficients(n) == constant + 2 * _fitted.FEATURES * n
    _, ref = _run(base_id, {"steps": n, **base_params}, proc, net, x_T)
    _, res = _run(sid, {**params, "fit": False}, proc, net, x_T)
    torch.testing.assert_close(res.samples, ref.samples, rtol=1e-10, atol=1e-10)
    c = solver.base_coefficients(proc, solver.times(proc))
    c[constant:] = torch.randn(len(c) - constant, generator=torch.Generator().manual_seed(3)) * 0.05
    params["coefficients"] = c.tolist()
    _, batch = _run(sid, params, proc, net, x_T)
    alone = torch.cat([_run(sid, params, proc, net, x_T[i:i + 1])[1].samples
                       for i in range(len(x_T))])
    torch.testing.assert_close(batch.samples, alone, rtol=1e-12, atol=1e-12)
    assert batch.nfe == res.nfe and (batch.samples - ref.samples).abs().max() > 1e-4


@pytest.mark.parametrize("sid, base_id", [("amed", "dpm-solver-2"), ("bns", "ipndm")])
def test_predictor_starts_from_the_constant_fit_and_improves_on_it(sid, base_id):
    _fitted.clear_cache()
    proc, net = process("edm"), network("gmm", **GMM8)
    x_T = prior(proc, 200, seed=0)
    const, _ = _run(sid, {"nfe": 6, **FAST}, proc, net, x_T)
    solver, res = _run(sid, {"nfe": 6, "predictor": True, **FAST}, proc, net, x_T)
    info = solver.fit_info
    # the same particles: the predictor's fit starts at the constants' fit and can only improve
    assert info.error <= const.fit_info.error
    assert info.evaluations > const.fit_info.evaluations  # both fits' solves are reported
    ref, _ = _reference(Denoiser(net, proc), x_T, proc.t_max, proc.t_min, True, 1e-9)
    _, base = _run(base_id, {"nfe": 6}, proc, net, x_T)
    err = lambda s: float((s - ref).pow(2).mean().sqrt())  # noqa: E731
    assert err(res.samples) < 0.5 * err(base.samples), (err(res.samples), err(base.samples))


def test_wrong_number_of_coefficients_names_the_field():
    from studio.core.errors import ParamError
    proc, net = process("edm"), network("gmm", **GMM8)
    with pytest.raises(ParamError, match="coefficients"):
        _run(FITTED[0], {"steps": 3, "coefficients": [1.0, 2.0]}, proc, net, prior(proc, 4))


def test_ld3_beats_karras_on_held_out_noise_and_refuses_solvers_without_gradients():
    from studio.core.errors import ParamError
    from studio.core.schedule_ld3 import fit_ld3
    proc, net = process("edm"), network("gmm", **GMM8)
    den = Denoiser(net, proc)
    solver = build_solver("dpm-solver++-2m", {"steps": 4}, "s")
    fit = fit_ld3(den, solver, 4, particles=64, evaluations=60)
    assert fit.method == "ld3" and fit.error < fit.initial_error and fit.evaluations <= 60
    assert bool(torch.all(fit.times[1:] < fit.times[:-1])) and fit.seconds > 0
    x_T = prior(proc, 300, seed=5)
    ref, _ = _reference(den, x_T, proc.t_max, proc.t_min, True, 1e-9)
    err = lambda ts: float((SamplingRun(den, solver, x_T, ts=ts).run().samples - ref)  # noqa: E731
                           .pow(2).mean().sqrt())
    assert err(fit.times) < 0.5 * err(solver.times(proc))
    with pytest.raises(ParamError, match="gradient"):
        fit_ld3(den, build_solver("unipc", {"steps": 3}, "s"), 3, particles=16, evaluations=20)


def test_comparison_reports_fit_time_and_the_frozen_cell_reproduces(monkeypatch):
    """A comparison's table gains fit_s for fitted cells; the cell's frozen params (explicit
    times + coefficients) run the cell's pipeline to the same samples without refitting."""
    from studio.core.compare import CompareSpec, ComparisonRun
    from studio.core.compare.spec import parse_solver
    _fitted.clear_cache()
    pipe = Pipeline.from_dict({
        "format": "studio.pipeline/1",
        "nodes": {"p": {"type": "process", "kind": "edm", "params": {}},
                  "n": {"type": "network", "kind": "gmm", "params": GMM8},
                  "s": {"type": "solver", "kind": "euler", "params": {"nfe": 10}}},
        "links": [["p", "n"], ["n", "s"]], "run": {"batch": 24, "seed": 2, "dtype": "float64"}})
    solvers = [parse_solver("euler"), parse_solver("bns:fit_particles=32:fit_iterations=20")]
    spec = CompareSpec.from_pipeline(pipe, [5], solvers, metrics=["rmse"])
    comp = ComparisonRun(spec).run()
    assert "fit_s" in comp.columns()
    rows = {("bns" if "bns" in r["solver"] else r["solver"]): r for r in comp.table()}
    assert rows["euler"].get("fit_s") is None and rows["bns"]["fit_s"] > 0, rows
    cell = next(c for c in comp.cells if c.solver.kind == "bns")
    res = comp.results[cell.index]
    # a saved comparison keeps the fit (time and explicit numbers)
    from studio.core.compare import Comparison
    back = Comparison.from_dict(json.loads(json.dumps(comp.to_dict(include_samples=False))))
    assert back.results[cell.index].fitted_params == res.fitted_params
    assert back.results[cell.index].fit_seconds == res.fit_seconds
    d = spec.cell_pipeline(cell).to_dict()
    d["nodes"][cell.solver.branch]["params"] = res.fitted_params
    _fitted.clear_cache()
    monkeypatch.setattr(_fitted, "fit_solver", lambda *a, **k: pytest.fail("refitted"))
    again = Pipeline.from_dict(json.loads(json.dumps(d))).build().run()[cell.solver.branch]
    assert torch.equal(again.samples, res.samples)


def test_cli_fit_then_run_reproduces(tmp_path, capsys, monkeypatch):
    """`studio fit` writes explicit numbers; `studio run` of that file equals `studio run` of the
    original (which fits on its own), bit for bit."""
    import numpy as np

    from studio.cli.main import main
    data = {"format": "studio.pipeline/1",
            "nodes": {"proc": {"type": "process", "kind": "edm", "params": {}},
                      "model": {"type": "network", "kind": "gmm", "params": GMM8},
                      "a": {"type": "solver", "kind": "amed", "params": {"nfe": 5, **FAST}},
                      "b": {"type": "solver", "kind": "ipndm",
                            "params": {"nfe": 5, "schedule": "optimized", "particles": 32,
                                       "evaluations": 30}}},
            "links": [["proc", "model"], ["model", "a"], ["model", "b"]],
            "run": {"batch": 16, "seed": 4, "dtype": "float64"}}
    src, fitted = tmp_path / "p.json", tmp_path / "fitted.json"
    src.write_text(json.dumps(data))
    assert main(["fit", str(src), "--out", str(fitted), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"a", "b"} and all(r["seconds"] > 0 for r in report.values())
    saved = json.loads(fitted.read_text())["nodes"]
    assert saved["a"]["params"]["schedule"] == "custom" and saved["a"]["params"]["coefficients"]
    assert saved["b"]["params"]["schedule"] == "custom"
    from studio.core import schedule_opt
    _fitted.clear_cache()
    schedule_opt.clear_cache()
    assert main(["run", str(src), "--out", str(tmp_path / "x.npz"), "--quiet"]) == 0  # refits
    monkeypatch.setattr(_fitted, "fit_solver", lambda *a, **k: pytest.fail("refitted"))
    monkeypatch.setattr(schedule_opt, "optimize_schedule", lambda *a, **k: pytest.fail("refitted"))
    assert main(["run", str(fitted), "--out", str(tmp_path / "y.npz"), "--quiet"]) == 0
    x, y = np.load(tmp_path / "x.npz"), np.load(tmp_path / "y.npz")
    assert sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)


@pytest.mark.parametrize("sid", FITTED)
def test_float32_fit_is_deterministic_and_finite(sid):
    """A float32 pipeline fits (its own float32 particles) and two fresh fits agree exactly."""
    proc, net = process("edm"), network("gmm", **GMM8)
    x_T = prior(proc, 16, dtype=torch.float32)
    outs = []
    for _ in range(2):
        _fitted.clear_cache()
        solver, res = _run(sid, {"nfe": 5, "fit_particles": 24, "fit_iterations": 15}, proc,
                           net, x_T)
        assert solver.fit_info is not None and res.samples.dtype == torch.float32
        outs.append(res.samples)
    assert torch.isfinite(outs[0]).all() and torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("sid", FITTED)
def test_optimized_start_is_no_worse_than_the_base_solvers_fitted_grid(sid):
    """fit_init="optimized" starts at the base solver's ``optimized`` grid fitted on the fit's own
    particles, so the fit ends at or below that grid's error (and below the base on its schedule)."""
    from studio.core.schedule_opt import optimize_schedule
    _fitted.clear_cache()
    proc, net = process("edm"), network("gmm", **GMM8)
    plain = {"fit_pool": 1, "fit_holdout": False}  # the plain draw the grid is fitted on here
    solver = build_solver(sid, {"nfe": 7, "fit_init": "optimized", **plain, **FAST}, sid)
    den = Denoiser(net, proc)
    solver.times_for(den)
    n, info = solver.num_steps(), solver.fit_info
    x_T, fden = difffit.fit_particles(den, FAST["fit_particles"], 0)
    ref, _ = _reference(fden, x_T, proc.t_max, proc.t_min, True, 1e-7)
    base_id, base_params = SOLVERS.get(sid).base
    base = build_solver(base_id, {**base_params, "steps": n}, "b")
    grid = optimize_schedule(fden, base, n, x_T=x_T, reference=ref.to(torch.float64),
                             evaluations=FAST["fit_iterations"] // 2)
    assert info.error <= grid.error + 1e-12 and info.evaluations <= FAST["fit_iterations"] + 1
    with pytest.raises(Exception, match="fit_init"):
        build_solver(sid, {"fit_init": "nope"}, sid)


def test_stratified_draw_takes_the_hardest_quarter_and_weights_the_rest():
    """The fit's particles: the hardest quarter of the pool whole (weight 1) and a uniform sample
    of the rest weighted by the share it stands for; a weighted RMSE with equal weights is the
    plain one."""
    proc, net = process("edm"), network("gmm", **GMM8)
    den = Denoiser(net, proc)
    pool, _ = difffit.fit_particles(den, 320, 3)
    x, _, w = difffit.stratified_particles(den, 40, 3, 8, lambda x, d: x.pow(2).sum(1))
    norms = pool.pow(2).sum(1)
    assert x.shape == (40, 2) and torch.equal(x[:10], pool[torch.argsort(norms, descending=True)[:10]])
    assert bool((x[:, None] == pool[None]).all(-1).any(1).all())  # all from the fit's own pool
    assert torch.all(w[:10] == 1) and torch.allclose(w[10:], torch.full((30,), 310 / 30,
                                                                    dtype=torch.float64))
    assert float(w.sum()) == pytest.approx(320)
    same, _, none = difffit.stratified_particles(den, 40, 3, 1, None)
    assert none is None and torch.equal(same, pool[:40])
    a, b = torch.randn(40, 2, dtype=torch.float64), torch.randn(40, 2, dtype=torch.float64)
    assert float(difffit.rmse(a, b, torch.full((40,), 3.0, dtype=torch.float64))) == \
        pytest.approx(float(difffit.rmse(a, b)))


def test_optimized_schedule_fits_on_a_stratified_draw():
    """The ``optimized`` schedule's ``pool``: a stratified draw of its own particles (its own cache
    key), fitted as before."""
    from studio.core import schedule_opt
    schedule_opt.clear_cache()
    proc, net = process("edm"), network("gmm", **GMM8)
    den = Denoiser(net, proc)
    got = {}
    for pool in (1, 4):
        s = build_solver("ipndm", {"nfe": 5, "schedule": "optimized", "particles": 32,
                                   "evaluations": 25, "pool": pool}, "s")
        got[pool] = s.times_for(den)
        assert s.fit_info.error < s.fit_info.initial_error
    assert not torch.equal(got[1], got[4])

"""Issue 17 validation: fitted solvers at one NFE on the frontier problem, on the seed-0 evaluation set and a larger seed-7 set.

    python benchmarks/results/frontier17/validate.py 32d 10 '[{}, {"final_eval": false}]' 20000
"""
import sys, time, math, json, torch
import os
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT); sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import solver_accuracy as sa
from studio.core.model import Denoiser
from studio.core.pipeline import build_solver
from studio.core.runner import SamplingRun
from studio.core.params import build
from studio.core.registry import PROCESSES
torch.set_num_threads(1)
prob = sys.argv[1]; nfe = int(sys.argv[2]); configs = json.loads(sys.argv[3])
vseed, vn = 7, int(sys.argv[4]) if len(sys.argv) > 4 else 2000
name, title, net, (smin, smax) = sa.frontier_problems([prob])[0]
sa.SIGMA_MIN, sa.SIGMA_MAX = smin, smax
proc = build(PROCESSES.get("edm"), {"sigma_min": smin, "sigma_max": smax}, "edm")
sets = []
for seed, n in ((0, 500), (vseed, vn)):
    x_T = torch.randn((n,) + tuple(net.data_shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * smax
    ref = net.to_data_units(sa.reference(net, proc, x_T, 1e-10)[0])
    best = min(sa.rmse(net.to_data_units(sa.run_peer(k, m, nfe, net, proc, x_T)[0]), ref) for k, m in sa.peer_configs().values())
    sets.append((x_T, ref, best))
print(prob, "NFE", nfe, "best peer eval", round(sets[0][2], 5), "val", round(sets[1][2], 5), flush=True)
for cfg in configs:
    cfg = dict(cfg); sid = cfg.pop("id", "bns")
    s = build_solver(sid, {"nfe": nfe, **cfg}, sid)
    den = Denoiser(net, proc)
    t0 = time.perf_counter(); ts = s.times_for(den); t = time.perf_counter() - t0
    fi = getattr(s, "fit_info", None)
    msg = []
    for x_T, ref, best in sets:
        out = SamplingRun(Denoiser(net, proc), s, x_T, ts=ts).run()
        d = (out.samples.to(torch.float64) - ref).norm(dim=1)
        e = sa.rmse(out.samples, ref)
        msg.append(f"{e:.4f} {e/best:.3f}x (nfe {out.nfe}, >1: {int((d>1).sum())})")
    print(f"{sid} {json.dumps(cfg):60s} eval {msg[0]}  val {msg[1]}  fit {t:5.1f}s solves {fi.evaluations if fi else 0}", flush=True)

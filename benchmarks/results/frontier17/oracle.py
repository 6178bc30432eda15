"""Issue 17: the bns family's floor on the 32-D mixture at NFE 10: bns (final_eval off) fitted on
the 20000 test particles themselves (seed 7, their exact endpoints as the fit's reference, no
holdout), then judged on the same particles. About 40 minutes on one thread.

    python benchmarks/results/frontier17/oracle.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrong_mode import N, evaluation_set, sa  # noqa: E402
from studio.core import difffit, schedule_opt  # noqa: E402
from studio.core.model import Denoiser  # noqa: E402
from studio.core.pipeline import build_solver  # noqa: E402
from studio.core.runner import SamplingRun  # noqa: E402

net, proc, x_T, ref, best = evaluation_set()
# the fit's particles and reference are the test set's (an oracle: never done outside this check)
difffit.fit_particles = lambda model, n, seed: (x_T.clone(), model)
schedule_opt._reference = lambda d, x, tmax, tmin, final, tol: (ref.clone(), 0)
t0 = time.time()
s = build_solver("bns", {"nfe": 10, "final_eval": False, "fit_pool": 1, "fit_holdout": False,
                         "fit_iterations": 300}, "bns")
out = SamplingRun(Denoiser(net, proc), s, x_T).run().samples
d = (out - ref).norm(dim=1)
w = d > 1
e = sa.rmse(out, ref)
print(f"bns fitted on the test set: fit {time.time() - t0:.0f} s, {s.fit_info.evaluations} solves; "
      f"RMSE {e:.4f} ({e / best:.3f}x the best diffusers {best:.4f}); wrong mode {int(w.sum())} of "
      f"{N}; RMSE of the rest {float(d[~w].pow(2).sum().div(32 * N).sqrt()):.4f}")

"""The ``ray`` executor: each cell a Ray task (optional extra: ``pip install -e ".[cluster]"``).

The comparison's spec (pipeline JSON with its seeds and run settings, the axes), the optional
noise and the bytes of every file the pipeline names (model files, ``.npy`` arrays; bundled
``assets:`` models travel with the package) are put once into Ray's object store; a task gets
them with the cell's index, writes the files into a per-spec folder on its node and runs the cell
there (:func:`studio.core.compare.executors.worker_cell`). A task whose worker process or node
died is resubmitted (``max_retries``) and the retry recorded; cancelling cancels every pending and
running task (``ray.cancel(force=True)``).

``address``: ``HOST:PORT`` of a running cluster (``ray start --head`` on the head node), ``auto``,
or None for the Ray instance this process already initialised (else a local one is started).
"""
from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from typing import Any

from ..errors import Cancelled, ParamError, StudioError
from ..library import ASSETS_PREFIX, resolve_model_path
from .executors import Executor, worker_cell


def _ray():
    try:
        import ray
    except ImportError:
        raise ParamError("the ray executor needs Ray: pip install -e \".[cluster]\"",
                         "--executor") from None
    return ray


def _walk_strings(obj: Any, fn) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, list):
        return [_walk_strings(v, fn) for v in obj]
    if isinstance(obj, dict):
        return {k: _walk_strings(v, fn) for k, v in obj.items()}
    return obj


def pack_files(spec_dict: dict) -> tuple[dict, dict]:
    """The spec with every file it names (in node params and axis values) renamed to
    ``files/<hash>_<name>`` and those files' bytes: (spec, {relative name: bytes})."""
    base = spec_dict.get("pipeline_dir")
    files: dict[str, bytes] = {}

    def ship(s: str) -> str:
        if s.startswith(ASSETS_PREFIX) or len(s) > 4096:
            return s
        try:
            path = resolve_model_path(s, base)
        except StudioError:
            return s
        if not os.path.isfile(path):
            return s
        with open(path, "rb") as fh:
            data = fh.read()
        name = f"files/{hashlib.sha1(data).hexdigest()[:16]}_{os.path.basename(path)}"
        files[name] = data
        return name

    out = copy.deepcopy(spec_dict)
    out["pipeline"]["nodes"] = {nid: dict(n, params=_walk_strings(n.get("params", {}), ship))
                                for nid, n in out["pipeline"]["nodes"].items()}
    for ax in out.get("axes") or []:
        ax["values"] = _walk_strings(ax["values"], ship)
    out["data"] = None  # data samples stay on the driver (metrics run there)
    return out, files


def _ray_cell(payload: dict, index: int):
    """The Ray task: unpack the files (once per node and spec), then run the cell."""
    files = payload.get("files") or {}
    if files:
        root = os.path.join(tempfile.gettempdir(), "studio-ray", payload["key"])
        for name, data in files.items():
            path = os.path.join(root, name)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.{os.getpid()}.part"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
        payload = dict(payload, spec=dict(payload["spec"], pipeline_dir=root))
    out = worker_cell(payload, index)
    import ray

    out.worker = f"{out.worker} on {ray.get_runtime_context().get_node_id()[:8]}"
    return out


def package_root() -> str:
    """The folder holding the ``studio`` package this process imports."""
    import studio

    return os.path.dirname(os.path.dirname(os.path.abspath(studio.__file__)))


def start_local_ray(num_cpus: int | None = None):
    """Start a local Ray instance (localhost only, no dashboard) whose workers import the same
    ``studio`` package as this process (a source checkout included)."""
    ray = _ray()
    path = os.pathsep.join(p for p in (package_root(), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    return ray


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, max_retries: int = 2,
                 workers: int | None = None, num_cpus: float = 1.0):
        super().__init__(max_retries)
        self.ray = _ray()
        self.address = address
        self.num_cpus = num_cpus
        self._owned = False
        if address is not None and (":" not in address and address != "auto"):
            raise ParamError(f"give the Ray cluster as HOST:PORT (or auto), got {address!r}",
                             "--address")
        if not self.ray.is_initialized():
            try:
                if address:
                    self.ray.init(address=address, log_to_driver=False)
                else:
                    start_local_ray(workers)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise StudioError(f"cannot reach the Ray cluster ({exc})",
                                  f"--address {address}" if address else "--executor ray") from None
            self._owned = True
        self._task = self.ray.remote(num_cpus=num_cpus, max_retries=0)(_ray_cell)

    def map(self, payload, indices, cancel=None):
        ray = self.ray
        spec, files = pack_files(payload["spec"])
        from .executors import spec_key

        payload = dict(payload, spec=spec, files=files, key=spec_key(payload["spec"]))
        if self.kill_once:
            payload["kill_once"] = self.kill_once
        ref = ray.put(payload)
        attempts: dict[int, int] = {}
        device = str((payload["spec"]["pipeline"].get("run") or {}).get("device", "cpu"))
        # a CUDA pipeline's cells go to GPU workers (one GPU per task)
        task = self._task.options(num_gpus=1) if device.startswith("cuda") else self._task
        pending = {task.remote(ref, i): i for i in indices}
        try:
            while pending:
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("comparison cancelled")
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.1)
                for r in done:
                    i = pending.pop(r)
                    try:
                        out = ray.get(r)
                    except ray.exceptions.RayTaskError as exc:  # the cell's own code raised
                        cause = exc.as_instanceof_cause()
                        raise (cause if isinstance(cause, StudioError) else
                               StudioError(f"the task raised {exc.cause!r}", f"cell {i}")) from None
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                            ray.exceptions.ObjectLostError, ray.exceptions.LocalRayletDiedError) as exc:
                        self._retry(i, attempts, type(exc).__name__)
                        pending[task.remote(ref, i)] = i
                        continue
                    out.attempts = attempts.get(i, 1)
                    yield out
        finally:
            for r in pending:
                ray.cancel(r, force=True)

    def close(self):
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()
            self._owned = False


__all__ = ["RayExecutor", "pack_files", "start_local_ray", "package_root"]

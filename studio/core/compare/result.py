"""Results of a comparison: per-cell results, the table, and the ``studio.compare/1`` file.

The file is one JSON object holding the spec (pipeline inline, solvers, schedules, NFE budgets,
metrics, reference), the table, the sample-vs-sample floors, the references' descriptions and,
unless left out, every cell's samples, the reference endpoints and the data samples as exact
base64-encoded arrays, so a saved comparison reopens with everything the grid needs and any cell
can be re-run from its spec.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import PipelineError, StudioError
from .metrics import Metric, metric_entry, resolve_metrics
from .reference import Reference, ReferenceResult, build_reference, reference_entry
from .spec import Cell, CompareSpec

FORMAT = "studio.compare/1"
TABLE_FORMAT = "studio.compare.table/1"
FIXED_COLUMNS = ("row", "solver", "schedule", "nfe_budget", "steps", "status")


@dataclass
class CellResult:
    """One finished cell. ``status``: ok, skipped (budget too small...), failed (non-finite)."""

    cell: Cell
    status: str
    message: str = ""
    samples: Optional[Tensor] = None
    nfe: int = 0
    steps: int = 0
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    #: the times the solver visited
    t: Optional[Tensor] = None
    trajectory: Optional[Tensor] = None
    #: a cell whose grid or coefficients are fitted to the model: the fit's wall time (as first
    #: paid; a later cell reuses the cached fit) and the solver's params with the fit written out
    #: (``difffit.frozen``: explicit times / coefficients, no refit when run again)
    fit_seconds: Optional[float] = None
    fitted_params: Optional[dict] = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ms_per_sample(self) -> float:
        n = self.samples.shape[0] if self.samples is not None else 0
        return 1000.0 * self.seconds / n if n else float("nan")

    def reference_key(self) -> Optional[tuple]:
        if self.t is None or len(self.t) < 2:
            return None
        return reference_key(self.t, bool(self.cell.solver_params().get("denoise_final", True)),
                             self.cell.solver.guidance, self.cell.point)


def reference_key(ts, denoise_final: bool, guidance: Optional[str], point: tuple = ()) -> tuple:
    """Cells of one axis point over the same time span, final denoise and guidance share one
    reference (the point's value indices close the key; none without axes)."""
    return (round(float(ts[0]), 12), round(float(ts[-1]), 12), bool(denoise_final), guidance,
            *(int(j) for j in point))


# -- arrays in JSON ---------------------------------------------------------------------------------
def encode_array(x) -> dict:
    a = np.ascontiguousarray(torch.as_tensor(x).detach().cpu().numpy())
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "base64": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def decode_array(d: Any, where: str) -> Tensor:
    try:
        dt = np.dtype(d["dtype"]).newbyteorder("<")
        if dt.kind not in "fiu":
            raise ValueError("not numeric")
        a = np.frombuffer(base64.b64decode(d["base64"]), dtype=dt).reshape(d["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StudioError(f"not an encoded array ({exc})", where) from None
    return torch.from_numpy(a.astype(a.dtype.newbyteorder("="))).clone()


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class Comparison:
    """A comparison's results (complete or partial)."""

    def __init__(self, spec: CompareSpec, metrics: list[Metric] | None = None,
                 reference: Reference | None = None):
        self.spec = spec
        self.metrics = metrics if metrics is not None else resolve_metrics(spec.metrics)
        self.reference = reference if reference is not None else build_reference(spec.reference)
        self.results: dict[int, CellResult] = {}
        #: (t_from, t_to, denoise_final, guidance) -> the reference endpoint for that span
        self.references: dict[tuple, ReferenceResult] = {}
        self.floors: dict[str, float] = {}
        #: metric id -> why it was not computed
        self.unavailable: dict[str, str] = {}
        self.notes: list[str] = []
        self.data: Optional[Tensor] = None
        self.data_source = ""
        self.finished = False
        self.created = time.strftime("%Y-%m-%dT%H:%M:%S")

    # -- access -------------------------------------------------------------------------------------
    def add(self, res: CellResult) -> None:
        self.results[res.cell.index] = res

    @property
    def cells(self) -> list[Cell]:
        return self.spec.cells()

    def cell_result(self, row: int, col: int) -> Optional[CellResult]:
        n = len(self.spec.nfes)
        return self.results.get(row * n + col)

    def reference_for(self, res: CellResult) -> Optional[ReferenceResult]:
        key = res.reference_key()
        return self.references.get(key) if key is not None else None

    def active_metrics(self) -> list[Metric]:
        return [m for m in self.metrics if m.id not in self.unavailable]

    def dimensions(self) -> list[str]:
        """What a plot can put on its x axis: ``nfe`` and every sweep axis's target."""
        return ["nfe"] + [a.target for a in self.spec.axes]

    def series_over(self, metric_id: str, dim: str = "nfe"
                    ) -> tuple[dict[str, list[tuple[float, float]]], dict[float, str]]:
        """Error-vs-axis curves: one curve per combination of the other dimensions, x the value
        of ``dim`` (a sweep axis's numeric value, else its position) or the actual NFE. Returns
        (curve label -> [(x, value)], x -> tick label for categorical axes)."""
        if dim == "nfe":
            return self.series(metric_id), {}
        k = [a.target for a in self.spec.axes].index(dim) if dim in self.dimensions() else None
        if k is None:
            raise StudioError(f"unknown dimension {dim!r}; valid: {', '.join(self.dimensions())}",
                              "plot")
        ax = self.spec.axes[k]
        ticks = {} if ax.numeric else {float(j): lab for j, lab in enumerate(ax.labels)}
        out: dict[str, list[tuple[float, float]]] = {}
        for cell in self.cells:
            others = [f"{a.target}={a.labels[j]}" for i, (a, j) in
                      enumerate(zip(self.spec.axes, cell.point)) if i != k]
            base = cell.row_label.split(" | ")[-1]
            label = " | ".join(others + [base] + ([f"nfe {cell.nfe}"] if len(self.spec.nfes) > 1
                                                  else []))
            curve = out.setdefault(label, [])
            r = self.results.get(cell.index)
            v = r.metrics.get(metric_id) if r is not None and r.ok else None
            if v is not None and math.isfinite(v):
                j = cell.point[k]
                curve.append((float(ax.values[j]) if ax.numeric else float(j), float(v)))
        return out, ticks

    def series(self, metric_id: str) -> dict[str, list[tuple[int, float]]]:
        """row label -> [(actual NFE, value)] over the finished ok cells, for error-vs-NFE plots."""
        out: dict[str, list[tuple[int, float]]] = {lab: [] for lab in self.spec.row_labels()}
        for idx in sorted(self.results):
            r = self.results[idx]
            v = r.metrics.get(metric_id) if r.ok else None
            if v is not None and math.isfinite(v):
                out[r.cell.row_label].append((r.nfe, v))
        return out

    # -- the table ----------------------------------------------------------------------------------
    def columns(self) -> list[str]:
        fits = ["fit_s"] if any(r.fit_seconds is not None for r in self.results.values()) else []
        return (list(FIXED_COLUMNS) + [a.target for a in self.spec.axes] + fits
                + [m.id for m in self.active_metrics()] + ["message"])

    def table(self) -> list[dict]:
        rows = []
        for cell in self.cells:
            r = self.results.get(cell.index)
            if r is None:
                continue
            sched = cell.schedule or cell.solver.schedule
            row = {"row": cell.row_label, "solver": cell.solver.label,
                   "schedule": sched.label if sched else cell.row_label.split(" / ")[-1],
                   "nfe_budget": cell.nfe, "steps": r.steps, "status": r.status}
            for a, j in zip(self.spec.axes, cell.point):
                row[a.target] = a.values[j] if a.numeric else a.labels[j]
            if r.fit_seconds is not None:
                row["fit_s"] = _num(r.fit_seconds)
            for m in self.active_metrics():
                row[m.id] = _num(r.metrics.get(m.id))
            row["message"] = r.message
            rows.append(row)
        return rows

    def floor_row(self) -> Optional[dict]:
        if not self.floors:
            return None
        row = {c: None for c in self.columns()}
        row.update({"row": "floor (data vs data)", "solver": "", "schedule": "", "status": "floor",
                    "message": "the metric for a fresh draw of data samples: the best a sampler can "
                               "score at this batch size"})
        for k, v in self.floors.items():
            row[k] = _num(v)
        return row

    def table_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns(), lineterminator="\n")
        w.writeheader()
        rows = self.table() + ([self.floor_row()] if self.floor_row() else [])
        for row in rows:
            w.writerow({k: ("" if v is None else (f"{v:.10g}" if isinstance(v, float) else v))
                        for k, v in row.items()})
        return buf.getvalue()

    def table_dict(self) -> dict:
        return {"format": TABLE_FORMAT, "columns": self.columns(), "rows": self.table(),
                "floors": {k: _num(v) for k, v in self.floors.items()},
                "metrics": {m.id: m.info() for m in self.active_metrics()},
                "unavailable": dict(self.unavailable),
                "reference": self.reference_summary(),
                "data": self.data_source,
                "batch": self.spec.pipeline.run.batch, "seed": self.spec.pipeline.run.seed,
                "finished": self.finished, "notes": list(self.notes)}

    def reference_summary(self) -> dict:
        refs = list(self.references.values())
        return {"kind": self.reference.id,
                "methods": sorted({r.method for r in refs}),
                "nfe": [r.nfe for r in refs], "seconds": [r.seconds for r in refs]}

    # -- the file -----------------------------------------------------------------------------------
    def to_dict(self, include_samples: bool = True) -> dict:
        cells = []
        for idx in sorted(self.results):
            r = self.results[idx]
            d = {"index": idx, "row": r.cell.row, "col": r.cell.col, "status": r.status,
                 "message": r.message, "nfe": r.nfe, "steps": r.steps, "seconds": r.seconds,
                 "metrics": {k: _num(v) for k, v in r.metrics.items()},
                 "t": r.t.tolist() if r.t is not None else None}
            if r.fit_seconds is not None:  # a fitted cell: its fit, reusable after reopening
                d["fit_seconds"], d["fitted_params"] = r.fit_seconds, r.fitted_params
            if include_samples and r.samples is not None:
                d["samples"] = encode_array(r.samples)
            cells.append(d)
        refs = []
        for key, ref in self.references.items():
            d = {"key": list(key), "nfe": ref.nfe, "seconds": ref.seconds, "method": ref.method,
                 "t_from": ref.t_from, "t_to": ref.t_to}
            if include_samples:
                d["samples"] = encode_array(ref.samples)
            refs.append(d)
        spec = self.spec.to_dict()
        spec["metrics"] = [metric_entry(m) for m in self.metrics]
        spec["reference"] = reference_entry(self.reference)
        return {"format": FORMAT, "created": self.created, "spec": spec,
                "table": self.table_dict(), "cells": cells, "references": refs,
                "floors": {k: _num(v) for k, v in self.floors.items()},
                "unavailable": dict(self.unavailable), "notes": list(self.notes),
                "data_source": self.data_source, "finished": self.finished,
                "data": encode_array(self.data) if include_samples and self.data is not None
                and self.data.numel() <= 2_000_000 else None}

    def save(self, path: str, include_samples: bool = True) -> None:
        from ..pipeline import write_atomic

        write_atomic(path, json.dumps(self.to_dict(include_samples), indent=1) + "\n")

    @classmethod
    def from_dict(cls, d: Any, where: str = "comparison") -> "Comparison":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise PipelineError(f"format must be {FORMAT!r}, got {got!r}", f"{where}: format")
        spec = CompareSpec.from_dict(d.get("spec"), f"{where}: spec")
        comp = cls(spec)
        cells = spec.cells()
        for i, c in enumerate(d.get("cells") or []):
            cw = f"{where}: cells[{i}]"
            try:
                cell = cells[int(c["index"])]
            except (KeyError, IndexError, TypeError, ValueError):
                raise StudioError("index missing or outside the grid", cw) from None
            samples = decode_array(c["samples"], f"{cw}.samples") if c.get("samples") else None
            t = torch.tensor(c["t"], dtype=torch.float64) if c.get("t") is not None else None
            fitted = c.get("fitted_params")
            comp.add(CellResult(cell, c.get("status", "ok"), c.get("message", ""), samples,
                                int(c.get("nfe", 0)), int(c.get("steps", 0)),
                                float(c.get("seconds", 0.0)), dict(c.get("metrics") or {}), t,
                                fit_seconds=_num(c.get("fit_seconds")),
                                fitted_params=fitted if isinstance(fitted, dict) else None))
        for i, r in enumerate(d.get("references") or []):
            rw = f"{where}: references[{i}]"
            if not r.get("samples"):
                continue
            key = tuple(r["key"])
            comp.references[key] = ReferenceResult(decode_array(r["samples"], f"{rw}.samples"),
                                                    int(r.get("nfe", 0)), float(r.get("seconds", 0)),
                                                    r.get("method", ""), float(r.get("t_from", 0)),
                                                    float(r.get("t_to", 0)))
        comp.floors = {k: v for k, v in (d.get("floors") or {}).items() if v is not None}
        comp.unavailable = dict(d.get("unavailable") or {})
        comp.notes = list(d.get("notes") or [])
        comp.data_source = d.get("data_source", "")
        comp.finished = bool(d.get("finished", False))
        comp.created = d.get("created", comp.created)
        if d.get("data"):
            comp.data = decode_array(d["data"], f"{where}: data")
        return comp

    @classmethod
    def load(cls, path: str) -> "Comparison":
        from ..untrusted import LIMITS, loads_json, read_regular
        raw = read_regular(path, path, PipelineError, 4 * LIMITS["json_bytes"])
        d = loads_json(raw, path, PipelineError, max_string=4 * LIMITS["json_bytes"])
        return cls.from_dict(d, path)


__all__ = ["Comparison", "CellResult", "FORMAT", "encode_array", "decode_array"]

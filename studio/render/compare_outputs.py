"""The files of a comparison in a folder, written by ``studio compare --out`` and the app's
comparison export alike: ``table.csv``, ``table.json``, ``comparison.json``, ``samples.npz``,
``grid.png``, ``error_vs_nfe.png`` and per sweep axis ``error_vs_<axis>.png``."""
from __future__ import annotations

import io
import json
import os


def write_outputs(comp, out: str, plots: bool = True, samples: bool = True,
                  quiet: bool = False) -> list[str]:
    """Write the table, the comparison file, the samples and the plots into ``out``."""
    import numpy as np

    from ..core.pipeline import write_atomic

    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        from ..core.errors import StudioError
        raise StudioError(f"cannot create the output folder: {exc.strerror}", out) from None
    paths = []
    p = os.path.join(out, "table.csv")
    write_atomic(p, comp.table_csv())
    paths.append(p)
    p = os.path.join(out, "table.json")
    write_atomic(p, json.dumps(comp.table_dict(), indent=2) + "\n")
    paths.append(p)
    p = os.path.join(out, "comparison.json")
    comp.save(p, include_samples=samples)
    paths.append(p)
    if samples:
        arrs = {f"{r.cell.key}": r.samples.numpy() for r in comp.results.values()
                if r.samples is not None}
        for key, ref in comp.references.items():
            arrs[f"reference/{key[0]:.6g}-{key[1]:.6g}" + ("" if key[2] else "/no-denoise")
                 + (f"/{key[3]}" if key[3] else "")
                 + ("/point-" + "-".join(str(j) for j in key[4:]) if len(key) > 4 else "")
                 ] = ref.samples.numpy()
        if comp.data is not None:
            arrs["data"] = comp.data.numpy()
        buf = io.BytesIO()
        np.savez(buf, **arrs)
        p = os.path.join(out, "samples.npz")
        write_atomic(p, buf.getvalue())
        paths.append(p)
    if plots:
        from .compare_plots import save_error_vs_nfe, save_grid

        paths.append(save_grid(comp, os.path.join(out, "grid.png")))
        paths.append(save_error_vs_nfe(comp, os.path.join(out, "error_vs_nfe.png")))
        if comp.spec.axes:
            from .axis_plots import axis_file_name, save_error_vs_axis

            for ax in comp.spec.axes:
                paths.append(save_error_vs_axis(comp, os.path.join(out, axis_file_name(ax.target)),
                                                ax.target))
    return paths

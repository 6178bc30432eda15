"""Fitted solvers in the Comparison workspace: the table shows the fit's time, and 'Use in
pipeline' carries the fit (explicit times and coefficients) into the pipeline."""
from __future__ import annotations

from .test_compare_workspace import run_compare, setup_form


def test_fit_time_column_and_use_fitted_cell(win, qtbot):
    ws = win.compare
    setup_form(ws, solvers=("euler",), nfes="5", batch=24, metrics=("rmse",))
    ws.setup.extra_solvers.setText("bns:fit_particles=24:fit_iterations=15")
    assert run_compare(qtbot, ws, timeout=120000)[0] == "finished"
    model = ws.table.source
    assert "fit_s" in model.columns
    col = model.columns.index("fit_s")
    comp = ws.session.comparison
    idx = next(c.index for c in comp.cells if c.solver.kind == "bns")
    row = model.cell_index.index(idx)
    assert float(model.data(model.index(row, col))) > 0
    other = model.cell_index.index(next(c.index for c in comp.cells if c.solver.kind == "euler"))
    assert model.data(model.index(other, col)) == ""
    nid = ws.use_cell_solver(idx)
    params = win.doc.nodes[nid].params
    assert win.doc.nodes[nid].kind == "bns" and params["schedule"] == "custom"
    assert len(params["coefficients"]) > 0 and len(params["timepoints"]) == comp.results[idx].steps + 1

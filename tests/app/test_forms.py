"""One form builder from parameter declarations: training, diagnostics and inverse-problem forms
are the same class, with the same defaults, validation and signals."""
from __future__ import annotations

import pytest

from studio.app.document import UNSET
from studio.app.forms import SpecForm
from studio.core.errors import StudioError
from studio.core.params import param_specs


def test_the_workspace_forms_are_one_builder(qtbot):
    from studio.app.diagnostics.panel import ParamsForm
    from studio.app.inverse.forms import ParamForm
    from studio.app.training.forms import SpecForm as TrainingForm
    assert issubclass(ParamsForm, SpecForm) and issubclass(ParamForm, SpecForm)
    assert issubclass(TrainingForm, SpecForm)


def test_values_defaults_validation_and_signals(qtbot):
    from studio.core.registry import SOLVERS
    specs = param_specs(SOLVERS.get("euler"))
    form = SpecForm(specs, "solver.euler", {"nfe": 12, "nonsense": 1})
    qtbot.addWidget(form)
    assert form.values() == {"nfe": 12}                     # unknown names are not kept
    got = []
    form.committed.connect(lambda n, v: got.append((n, v)))
    form.fields["nfe"].committed.emit(30)
    assert got == [("nfe", 30)] and form.values()["nfe"] == 30
    form.fields["nfe"].committed.emit(UNSET)               # cleared: the default applies
    assert "nfe" not in form.values()
    inst = form.build(SOLVERS.get("euler"))
    assert inst.nfe == param_specs(SOLVERS.get("euler"))[[s.name for s in specs].index("nfe")].default
    form.set("nfe", 0)                                      # below the declared minimum
    with pytest.raises(StudioError) as info:
        form.build(SOLVERS.get("euler"))
    assert "solver.euler" in str(info.value) and "nfe" in str(info.value)

"""The Comparison workspace (issue 5, app side): solvers x schedules x NFE budgets from the same
noise, run in the background through :mod:`studio.core.compare`, shown as a grid of final samples,
an error-vs-NFE plot and a metrics table; saved and exported as ``studio compare`` does.

* :mod:`.tasks` - :class:`TaskRunner`: one function at a time in a worker thread (also used by
  the diagnostics panel).
* :mod:`.session` - :class:`CompareSession`: the model the views observe.
* :mod:`.setup`, :mod:`.grid`, :mod:`.errorplot`, :mod:`.table` - the views.
* :mod:`.workspace` - :class:`CompareWorkspace`, the dock panel.
"""

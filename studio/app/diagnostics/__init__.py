"""The Likelihood & diagnostics panel (issue 5, app side): NLL of a data set, the model's
log-density beside the exact one, conservativity (curl and Jacobian asymmetry across t) and the
density evolution p_t with a time slider, all computed in a worker thread through
:mod:`studio.core.likelihood` and :mod:`studio.core.diagnostics`.

* :mod:`.model` - the model (process, network, guidance) a diagnostic runs on (Qt-free).
* :mod:`.heatmap` - a heatmap view with a colour bar and a hover readout.
* :mod:`.likelihood_tab`, :mod:`.density_tab`, :mod:`.conservativity_tab`,
  :mod:`.evolution_tab` - the tabs; :mod:`.panel` - the dock panel.
"""

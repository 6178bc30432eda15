"""The training workspace: a panel that trains a model with :mod:`studio.core.training` in a
worker thread, shows its loss and sample previews live, and puts the finished model into the
user's model library (where the model browser lists it).

* :mod:`.session` — the state of one training as the views see it (Qt-free, thread-safe);
* :mod:`.controller` — the worker thread (train, pause / resume / cancel, export);
* :mod:`.forms`, :mod:`.settings` — the settings forms, generated from the engine's declarations;
* :mod:`.views` — the loss curve and the sample previews;
* :mod:`.panel` — the panel that puts them together (installed by
  :mod:`studio.app.extensions.training`).
"""

"""First-run and everyday comfort: the examples gallery and start page, the generation gallery (PNG
export with the pipeline embedded, drop to restore), the settings dialog, the in-app guide and
crash-safe autosave.

Installed into the main window by :mod:`studio.app.extensions.comfort` (``install(window)``);
every part observes the window's document, run state and settings, and owns no pipeline state.
"""

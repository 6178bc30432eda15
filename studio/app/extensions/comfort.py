"""First run and everyday comfort (:mod:`studio.app.comfort`): examples gallery and start page,
generation gallery, settings, guide, autosave and crash restore."""
from __future__ import annotations


def install(window) -> None:
    from ..comfort.install import install as install_comfort
    install_comfort(window)

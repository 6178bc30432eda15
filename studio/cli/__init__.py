"""The ``studio`` command: headless sub-commands, and the app when run with no arguments."""
from .main import main

__all__ = ["main"]

"""Errors raised by the engine.

Every error that comes from user input is a :class:`StudioError` whose message names the place
(file, node, field, step) and the problem. The CLI maps it to exit code 2.
"""
from __future__ import annotations


class StudioError(ValueError):
    """Bad input: names what is wrong and where."""

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        self.problem = message
        super().__init__(f"{where}: {message}" if where else message)


class PipelineError(StudioError):
    """A pipeline file or dictionary that cannot be built."""


class ParamError(StudioError):
    """A parameter of a node that is unknown, missing or ill-typed."""


class NonFiniteError(StudioError):
    """NaN or Inf appeared in a run; names the step and the time."""

    def __init__(self, message: str, where: str | None = None, step: int | None = None,
                 t: float | None = None):
        self.step = step
        self.t = t
        super().__init__(message, where)


class Cancelled(Exception):
    """A run was cancelled through its token."""


def json_problem(exc) -> str:
    """A JSONDecodeError in words: "not valid JSON: <what> at line L, column C". Some of the
    decoder's messages end in "at" ("Unterminated string starting at"): said once, not twice."""
    what = exc.msg[:-3] if exc.msg.endswith(" at") else exc.msg
    return f"not valid JSON: {what} at line {exc.lineno}, column {exc.colno}"


class StudioWarning(UserWarning):
    """An accepted setting that makes the result degenerate (samples collapsed to a point, a time
    grid that loses precision); the CLI prints it as one line, the app shows it."""

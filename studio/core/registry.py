"""Registries of plugins: processes, networks, guidance, schedules, solvers.

Each plugin is a small dataclass registered under a stable id::

    @SOLVERS.register("euler")
    @dataclass
    class Euler(Solver): ...

The id is what pipeline files, the CLI and the app use; it never changes once published.
"""
from __future__ import annotations

import importlib
from typing import Generic, Iterator, TypeVar

from .errors import PipelineError
from .params import ParamSpec, param_specs

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """A name -> class map for one kind of plugin."""

    def __init__(self, kind: str, modules: tuple[str, ...] = ()):
        self.kind = kind
        self._classes: dict[str, type] = {}
        self._modules = modules
        self._loaded = False

    def register(self, id: str):
        def deco(cls):
            if id in self._classes and self._classes[id] is not cls:
                raise ValueError(f"{self.kind} id {id!r} registered twice")
            self._classes[id] = cls
            cls.id = id
            return cls
        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._modules:
                importlib.import_module(mod)
            # plugins from outside the package (user folder, entry points): once, after the
            # built-ins of every registry; a broken one is recorded, never raised
            from .user_plugins import load_external
            for other in ALL_REGISTRIES:
                if other is not self:
                    other._load()
            load_external()

    def get(self, id: str, where: str | None = None) -> type:
        self._load()
        try:
            return self._classes[id]
        except KeyError:
            raise PipelineError(
                f"unknown {self.kind} kind {id!r}; valid: {', '.join(self.ids())}", where) from None

    def ids(self) -> list[str]:
        self._load()
        return list(self._classes)

    def items(self) -> Iterator[tuple[str, type]]:
        self._load()
        return iter(list(self._classes.items()))

    def specs(self, id: str) -> list[ParamSpec]:
        return param_specs(self.get(id))

    def __contains__(self, id: str) -> bool:
        self._load()
        return id in self._classes

    def __len__(self) -> int:
        self._load()
        return len(self._classes)


PROCESSES: Registry = Registry("process", ("studio.core.processes",))
NETWORKS: Registry = Registry("network", ("studio.core.networks",))
GUIDANCE: Registry = Registry("guidance", ("studio.core.guidance",))
SCHEDULES: Registry = Registry("schedule", ("studio.core.schedules",))
SOLVERS: Registry = Registry("solver", ("studio.core.solvers",))

#: every registry (external plugins are loaded once all of them hold their built-ins)
ALL_REGISTRIES: list[Registry] = [PROCESSES, NETWORKS, GUIDANCE, SCHEDULES, SOLVERS]

"""Parameter declarations shared by every plugin.

A plugin is a dataclass; its fields are its parameters. :func:`param` attaches the documentation,
range and choices that the JSON format, the CLI tables and the app's inspector forms all read.
:func:`build` turns a JSON dictionary into an instance, checking every value against its declared
type and naming the node and the field in any error.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable, Sequence

from .errors import ParamError

__all__ = ["param", "ParamSpec", "param_specs", "build", "to_params", "check_value"]


def param(default: Any = MISSING, doc: str = "", *, min: float | None = None,
          max: float | None = None, choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
          default_factory: Callable[[], Any] | None = None, ui: str | None = None) -> Any:
    """Declare a plugin parameter (a dataclass field with metadata).

    ``choices`` may be a callable so that a registry can be read lazily (e.g. schedule ids).
    ``ui`` hints a widget ("path", "matrix", ...) to the app.
    """
    meta = {"doc": doc, "min": min, "max": max, "choices": choices, "ui": ui}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ParamSpec:
    """What the app and the CLI know about one parameter."""

    name: str
    type: Any
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    ui: str | None = None

    @property
    def required(self) -> bool:
        return self.default is MISSING

    @property
    def type_name(self) -> str:
        return _type_name(self.type)

    def to_json(self) -> dict:
        out = {"name": self.name, "type": self.type_name, "doc": self.doc}
        if not self.required:
            out["default"] = self.default
        for key in ("min", "max", "ui"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = " | ".join(_type_name(a) for a in args)
        return f"{inner} | null" if len(args) < len(typing.get_args(tp)) else inner
    if origin in (list, tuple, Sequence):
        args = typing.get_args(tp)
        return f"list[{_type_name(args[0])}]" if args else "list"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def param_specs(cls: type) -> list[ParamSpec]:
    """The declared parameters of a plugin class, in declaration order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        meta = f.metadata or {}
        default = f.default
        if default is MISSING and f.default_factory is not MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        choices = meta.get("choices")
        if callable(choices):
            choices = choices()
        specs.append(ParamSpec(
            name=f.name, type=hints.get(f.name, Any), default=default, doc=meta.get("doc", ""),
            min=meta.get("min"), max=meta.get("max"),
            choices=tuple(choices) if choices is not None else None, ui=meta.get("ui")))
    return specs


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:
            return _coerce(value, real[0], where)
        for arg in real:
            try:
                return _coerce(value, arg, where)
            except ParamError:
                pass
        raise ParamError(f"expected {_type_name(tp)}, got {_describe(value)}", where)
    if origin in (list, Sequence, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"expected {_type_name(tp)}, got {_describe(value)}", where)
        args = typing.get_args(tp)
        if not args:
            return list(value)
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ParamError(f"expected true or false, got {_describe(value)}", where)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ParamError(f"expected an integer, got {_describe(value)}", where)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            import math
            if not math.isfinite(float(value)):
                raise ParamError(f"expected a finite number, got {value!r}", where)
            return float(value)
        raise ParamError(f"expected a number, got {_describe(value)}", where)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ParamError(f"expected a string, got {_describe(value)}", where)
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise ParamError(f"expected an object, got {_describe(value)}", where)
    return value


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def check_value(spec: ParamSpec, value: Any, where: str) -> Any:
    """Validate one value against its spec (type, range, choices); return the coerced value."""
    value = _coerce(value, spec.type, where)
    if value is None:
        return value
    if spec.choices is not None and value not in spec.choices:
        raise ParamError(f"{value!r} is not one of: {', '.join(map(str, spec.choices))}", where)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            raise ParamError(f"{value} is below the minimum {spec.min}", where)
        if spec.max is not None and value > spec.max:
            raise ParamError(f"{value} is above the maximum {spec.max}", where)
    return value


def build(cls: type, params: dict | None, where: str, extra: dict | None = None) -> Any:
    """Instantiate plugin ``cls`` from a JSON dictionary, validating every field.

    ``extra`` holds keyword arguments that are not parameters (e.g. the pipeline's folder).
    """
    params = dict(params or {})
    if not isinstance(params, dict):
        raise ParamError("params must be an object", where)
    specs = {s.name: s for s in param_specs(cls)}
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; valid: {', '.join(specs) or 'none'}",
                         where)
    kwargs = {}
    for name, spec in specs.items():
        if name in params:
            kwargs[name] = check_value(spec, params[name], f"{where}.{name}")
        elif spec.required:
            raise ParamError(f"missing required parameter {name!r} ({spec.doc})", where)
    kwargs.update(extra or {})
    try:
        obj = cls(**kwargs)
    except ParamError as exc:
        raise ParamError(exc.problem, f"{where}.{exc.where}" if exc.where else where) from None
    except (ValueError, TypeError) as exc:
        raise ParamError(str(exc), where) from exc
    return obj


def to_params(obj: Any) -> dict:
    """The JSON parameters of a plugin instance (its declared fields)."""
    return {s.name: getattr(obj, s.name) for s in param_specs(type(obj))}

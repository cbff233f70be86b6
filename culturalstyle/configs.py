"""Dataclass configs that round-trip through YAML, and `key=value` overrides from the CLI or a notebook."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def to_dict(config: Any) -> dict:
    """Plain dict of a (possibly nested) dataclass, with tuples turned into lists for YAML."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any) -> Any:
    """Convert a YAML/CLI value to the annotated field type (nested dataclasses, tuples, Optional)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0]) if len(non_none) == 1 else value
    if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
        return from_dict(annotation, value)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        inner = args[0] if args else Any
        items = [_coerce(v, inner) if inner is not Ellipsis and inner is not Any else v for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is Path and isinstance(value, str):
        return Path(value)
    return value


def from_dict(cls: type[T], data: dict) -> T:
    """Build dataclass `cls` from a dict, refusing unknown keys (a typo must not be silently ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    hints = _field_types(cls)
    return cls(**{k: _coerce(v, hints[k]) for k, v in data.items()})


def save_yaml(config: Any, path: str | Path) -> Path:
    from .cache import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def load_yaml(cls: type[T], path: str | Path) -> T:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return from_dict(cls, data)


def parse_value(text: str) -> Any:
    """Parse a CLI override value with YAML rules (`3` -> int, `1e-3` -> float, `[1,2]` -> list, `true`)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 leaves "1e-3" a string
        except ValueError:
            return value
    return value


def apply_overrides(config: T, overrides: dict[str, Any] | list[str] | None) -> T:
    """Return a copy of `config` with `key=value` (or dotted `a.b=value`) overrides applied and type-checked."""
    if not overrides:
        return config
    if isinstance(overrides, list):
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form key=value")
            key, text = item.split("=", 1)
            pairs[key.strip()] = parse_value(text)
        overrides = pairs
    data = to_dict(config)
    for key, value in overrides.items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"unknown config section {part!r} in override {key!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ValueError(f"unknown config field {key!r}; known: {', '.join(sorted(node))}")
        node[parts[-1]] = value
    return from_dict(type(config), data)

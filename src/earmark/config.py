"""Strict configuration: frozen dataclasses built from YAML or dicts.

Every config in earmark is a frozen dataclass whose defaults live in code. :func:`from_dict`
builds one from plain data and rejects unknown keys and wrong types, naming the dotted key at
fault; :func:`to_dict` and :func:`dump_yaml` give the resolved config back, so every run can
write exactly what it used. :func:`apply_overrides` applies ``key.sub=value`` strings from a
command line to a nested dict before it is built.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "apply_overrides",
    "dump_yaml",
    "from_dict",
    "load_yaml",
    "to_dict",
]


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the dotted key."""


def to_dict(config: Any) -> Any:
    """Return a config dataclass (or nested value) as plain YAML-safe data."""
    if hasattr(config, "to_config_dict"):
        return config.to_config_dict()
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, tuple | list):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def dump_yaml(config: Any) -> str:
    """Serialise a config dataclass to YAML text, keys in field order."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path``; an empty file gives an empty dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, not {type(data).__name__}")
    return data


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, key: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``, strictly.

    Unknown keys, wrong types and missing required fields raise :class:`ConfigError` naming
    the dotted key (``key`` is the prefix used for nested configs).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{key or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        names = ", ".join(_join(key, u) for u in unknown)
        raise ConfigError(f"unknown config key {names}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, _join(key, name))
    try:
        return cls(**values)
    except TypeError as error:  # a required field is absent
        raise ConfigError(f"{key or cls.__name__}: {error}") from error


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as error:
                errors.append(str(error))
        distinct = list(dict.fromkeys(errors))
        raise ConfigError(distinct[0] if len(distinct) == 1 else f"{key}: {' / '.join(distinct)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if isinstance(hint, type) and hasattr(hint, "from_config_dict"):
        return hint.from_config_dict(value, key=key)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key=key)  # type: ignore[arg-type]
    if origin in (tuple, list, Sequence):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b=value`` overrides applied (values parsed as YAML)."""
    result: dict[str, Any] = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        parts = dotted.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r} has an empty key")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part} is not a mapping")
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}

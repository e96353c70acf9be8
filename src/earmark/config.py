"""Strict configuration: frozen dataclasses built from YAML or dicts.

Every config in earmark is a frozen dataclass whose defaults live in code. :func:`from_dict`
builds one from plain data and rejects unknown keys, missing required keys, wrong types and
out-of-range numbers, naming the dotted key at fault; :func:`to_dict` and :func:`dump_yaml`
give the resolved config back, so every run can write exactly what it used.
:func:`apply_overrides` applies ``key.sub=value`` strings from a command line to a nested dict
before it is built.

A numeric field declares the values it allows in its type hint, read by :func:`check_ranges`
(which ``from_dict`` and each config's ``__post_init__`` call)::

    @dataclasses.dataclass(frozen=True)
    class Toy:
        size: PositiveInt = 3
        share: Annotated[float, Range(ge=0, lt=1)] = 0.5

    def __post_init__(self) -> None:
        check_ranges(self)

Whatever its range, a float must be finite and an integer must fit in 64 bits.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml

from earmark.errors import EarmarkError

T = TypeVar("T")

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "NON_NEGATIVE",
    "ConfigError",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveFloat",
    "PositiveInt",
    "Probability",
    "Range",
    "apply_overrides",
    "check_options",
    "check_ranges",
    "dump_yaml",
    "from_dict",
    "load_yaml",
    "numeric_fields",
    "to_dict",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class ConfigError(EarmarkError):
    """A configuration value or key is invalid; the message names the dotted key."""


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric config field allows, declared as ``Annotated[int, Range(gt=0)]``.

    ``ge`` / ``le`` are inclusive bounds, ``gt`` / ``lt`` exclusive ones; None is unbounded. The
    text form (``str(Range(ge=0, lt=1))`` is ``"in [0, 1)"``) is what errors say.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float):
            return False
        return not (
            (self.ge is not None and not value >= self.ge)
            or (self.gt is not None and not value > self.gt)
            or (self.le is not None and not value <= self.le)
            or (self.lt is not None and not value < self.lt)
        )

    def __str__(self) -> str:
        low = ("[", self.ge) if self.ge is not None else ("(", self.gt) if self.gt is not None else None
        high = ("]", self.le) if self.le is not None else (")", self.lt) if self.lt is not None else None
        if self.gt == 0:
            return (
                "positive"
                if high is None
                else f"positive and {'<=' if high[0] == ']' else '<'} {_number(high[1])}"
            )
        if low is not None and high is not None:
            return f"in {low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
        if low is not None:
            return f"{'>=' if low[0] == '[' else '>'} {_number(low[1])}"
        if high is not None:
            return f"{'<=' if high[0] == ']' else '<'} {_number(high[1])}"
        return "a finite number"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


#: Counts and seeds: no negatives.
NON_NEGATIVE = Range(ge=0)

#: Common ranges of numeric fields.
PositiveInt = Annotated[int, Range(gt=0)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
Probability = Annotated[float, Range(ge=0, le=1)]

# the dotted key of the config from_dict is building, for the errors of check_ranges
_BUILDING: contextvars.ContextVar[str | None] = contextvars.ContextVar("earmark_config_key", default=None)


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
        raise ConfigError(f"{path} is not valid YAML: {_one_line(error)}") from error
    except RecursionError as error:
        raise ConfigError(f"{path} is nested too deeply to read as YAML") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, not {type(data).__name__}")
    return data


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, key: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``, strictly.

    Unknown keys, missing required keys, wrong types, non-finite floats and values outside a
    field's :class:`Range` raise :class:`ConfigError` naming the dotted key (``key`` is the
    prefix used for nested configs). A string that reads as a number (``"3e-3"``, which YAML
    leaves a string) is accepted where a float is expected.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{key or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        names = ", ".join(_join(key, u) for u in unknown)
        raise ConfigError(f"unknown config key {names}; valid keys: {', '.join(sorted(fields))}")
    missing = [
        name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing required config key {', '.join(_join(key, m) for m in missing)}")
    hints = _hints(cls)
    values = {name: _coerce(hints[name], value, _join(key, name)) for name, value in data.items()}
    token = _BUILDING.set(key)
    try:
        config = cls(**values)
        check_ranges(config)
    finally:
        _BUILDING.reset(token)
    return config


def check_ranges(config: Any, *, key: str = "") -> None:
    """Raise :class:`ConfigError` unless every numeric field of ``config`` is in its declared range.

    Call it first in a config's ``__post_init__``; :func:`from_dict` also calls it. The error names
    the dotted key and the allowed range, e.g. ``optim.lr must be positive, got -1.0``: the key
    ``from_dict`` is building under, or ``key`` for a config built directly.
    """
    building = _BUILDING.get()
    prefix = key if building is None else building
    for name, hint in _hints(type(config)).items():
        _check(hint, getattr(config, name), _join(prefix, name))


def check_options(*options: tuple[str, float | None, Range]) -> None:
    """``ConfigError`` naming the first command-line option outside its range.

    Each item is ``(name, value, allowed)``, e.g. ``("--top-k", top_k, Range(ge=1))``; None (an
    option not given) passes, and a float must be finite.
    """
    for name, value, allowed in options:
        if value is not None:
            _check(Annotated[float, allowed], value, name)


def numeric_fields(cls: type[Any]) -> Iterator[tuple[str, Any, Range | None]]:
    """``(name, hint, range)`` of each int or float field of the config dataclass ``cls``.

    A field of a tuple of numbers counts; ``range`` is None when the hint declares none. Tests
    use this to check that every numeric option declares its range.
    """
    for name, hint in _hints(cls).items():
        base, found = _numeric(hint)
        if base is not None:
            yield name, base, found


def _numeric(hint: Any) -> tuple[type | None, Range | None]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        base, found = _numeric(args[0])
        ranges = [a for a in args[1:] if isinstance(a, Range)]
        return base, (ranges[0] if ranges else found)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            base, found = _numeric(arg)
            if base is not None:
                return base, found
        return None, None
    if origin in (tuple, list, Sequence) and args:
        return _numeric(args[0])
    if hint in (int, float):
        return typing.cast(type, hint), None
    return None, None


def _hints(cls: type[Any]) -> dict[str, Any]:
    """The type hints, ``Annotated`` kept, of the init fields of the dataclass ``cls`` (cached).

    A numeric field a subclass declares again without a range (to change its default) keeps
    the range of the base class that declared one.
    """
    found = _HINTS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        found = {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}
        for name, hint in found.items():
            if _numeric(hint)[1] is None:
                found[name] = _inherited_hint(cls, name, hint)
        _HINTS[cls] = found
    return found


def _inherited_hint(cls: type[Any], name: str, hint: Any) -> Any:
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base) and name in {f.name for f in dataclasses.fields(base)}:
            inherited = _hints(base).get(name)
            if inherited is not None and _numeric(inherited)[1] is not None:
                return inherited
    return hint


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _check(hint: Any, value: Any, key: str, optional: bool = False) -> None:
    """Check ``value`` against the ranges and finiteness that ``hint`` declares."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        _check(args[0], value, key, optional)
        for allowed in (a for a in args[1:] if isinstance(a, Range)):
            if _is_number(value) and value not in allowed:
                or_null = " (or null)" if optional else ""
                raise ConfigError(f"{key} must be {allowed}{or_null}, got {value!r}")
    elif origin in (typing.Union, types.UnionType):
        if value is None:
            return
        nullable = type(None) in args
        for arg in (a for a in args if a is not type(None)):
            if _accepts(arg, value):
                _check(arg, value, key, nullable)
                return
    elif origin in (tuple, list, Sequence) and args and isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _check(args[0], item, f"{key}[{i}]")
    elif hint is float and _is_number(value) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` has the type of ``hint`` (of one union member), ranges aside."""
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
    origin = typing.get_origin(base)
    if base is float:
        return _is_number(value)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list, Sequence):
        return isinstance(value, tuple | list)
    if isinstance(base, type):
        return isinstance(value, base)
    return True


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Annotated:
        return _coerce(args[0], value, key)
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
        return _integer(value, key)
    if hint is float:
        return _float(value, key)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def _integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ConfigError(f"{key} must be an integer in [{INT64_MIN}, {INT64_MAX}] (64 bits), got {value}")
    return value


def _float(value: Any, key: str) -> float:
    """A finite float from a number or a string that reads as one (YAML's ``3e-3``)."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    else:
        try:
            number = float(value)
        except OverflowError:
            raise ConfigError(f"{key} is too large for a float, got {value}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    return number


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b=value`` overrides applied (values parsed as YAML).

    A value that is not valid YAML (``optim.lr=[1``) raises :class:`ConfigError` naming the
    override.
    """
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
        node[parts[-1]] = _parse_value(item, raw)
    return result


def _parse_value(item: str, raw: str) -> Any:
    if not raw.strip():
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ConfigError(f"override {item!r}: the value is not valid YAML ({_one_line(error)})") from error
    except RecursionError as error:
        raise ConfigError(f"override {item!r}: the value is nested too deeply") from error


def _one_line(error: BaseException) -> str:
    """The gist of a (YAML) error on one line: its problem and where, without the echoed text."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(error).split())


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}

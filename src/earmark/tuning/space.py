"""The search space of a recipe's ``tune:`` block: ranges and choices over dotted config keys.

A space maps dotted :class:`~earmark.training.config.TrainConfig` keys (``optim.lr``,
``model_options.dropout``, ``batch_size``) to a :class:`Range` (``{low, high, log, step}``;
integer when ``low``, ``high`` and ``step`` are all integers) or a :class:`Choice`
(``{choices: [...]}``). :func:`suggest` draws one value per key from an Optuna trial and
:func:`apply_params` writes them into a copy of the recipe's nested dict, before the config is
built strictly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Protocol

from earmark.config import ConfigError, from_dict, to_dict

__all__ = ["Choice", "Range", "SearchSpace", "apply_params", "suggest"]

_SCALARS = (str, int, float, bool, type(None))


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric range: uniform in ``[low, high]``, on a log scale with ``log``, on a grid with ``step``.

    Integer-valued when ``low``, ``high`` and ``step`` (if given) are all integers.
    """

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = None

    @property
    def integer(self) -> bool:
        """True when every bound (and the step) is an integer: the values drawn are integers."""
        return all(isinstance(v, int) for v in (self.low, self.high, self.step) if v is not None)

    def check(self, key: str) -> None:
        """``ConfigError`` naming ``key`` when the range is empty or its options conflict."""
        if not self.low < self.high:
            raise ConfigError(f"{key}: low ({self.low}) must be below high ({self.high})")
        if self.log and self.step is not None:
            raise ConfigError(f"{key}: a range is either log-scaled or stepped, not both")
        if self.log and self.low <= 0:
            raise ConfigError(f"{key}: a log range needs low > 0, got {self.low}")
        if self.log and self.integer and self.low < 1:
            raise ConfigError(f"{key}: an integer log range needs low >= 1, got {self.low}")
        if self.step is not None and self.step <= 0:
            raise ConfigError(f"{key}: step must be positive, got {self.step}")

    def extremes(self) -> tuple[Any, ...]:
        """The two ends, as the values a trial may take (for checking the config early)."""
        cast = int if self.integer else float
        return cast(self.low), cast(self.high)


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``choices``; lists and mappings are allowed (drawn by their JSON text)."""

    choices: tuple[Any, ...]

    def check(self, key: str) -> None:
        """``ConfigError`` naming ``key`` when there is nothing to choose or a choice repeats."""
        if not self.choices:
            raise ConfigError(f"{key}: choices must list at least one value")
        texts = [json.dumps(to_dict(c), sort_keys=True) for c in self.choices]
        if len(set(texts)) != len(texts):
            raise ConfigError(f"{key}: choices repeat a value: {list(self.choices)}")

    @property
    def scalar(self) -> bool:
        """True when every choice is a number, string, boolean or null (drawn as itself)."""
        return all(isinstance(c, _SCALARS) for c in self.choices)

    def encoded(self) -> list[Any]:
        """What the trial chooses among: the choices, or their JSON text when one is not a scalar."""
        return list(self.choices) if self.scalar else [json.dumps(to_dict(c)) for c in self.choices]

    def decode(self, drawn: Any) -> Any:
        """The choice a drawn (possibly JSON-encoded) value stands for."""
        return drawn if self.scalar else json.loads(drawn)

    def extremes(self) -> tuple[Any, ...]:
        """Every choice (for checking the config early)."""
        return tuple(to_dict(c) for c in self.choices)


Parameter = Range | Choice


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Dotted config key → :class:`Range` or :class:`Choice`, in the order the recipe lists them."""

    parameters: dict[str, Parameter] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_config_dict(cls, data: Any, *, key: str = "space") -> SearchSpace:
        """Build strictly from a recipe's mapping; errors name the dotted key at fault."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{key} must map dotted config keys to ranges or choices, got {data!r}")
        parameters: dict[str, Parameter] = {}
        for name, spec in data.items():
            where = f"{key}.{name}"
            if not isinstance(name, str) or not all(name.split(".")):
                raise ConfigError(f"{key}: {name!r} is not a dotted config key such as optim.lr")
            if not isinstance(spec, Mapping):
                raise ConfigError(f"{where} must be {{low, high[, log, step]}} or {{choices: [...]}}")
            kind: type[Parameter] = Choice if "choices" in spec else Range
            parameter = from_dict(kind, spec, key=where)
            parameter.check(where)
            parameters[name] = parameter
        return cls(parameters)

    def to_config_dict(self) -> dict[str, Any]:
        """The YAML form (what :meth:`from_config_dict` reads)."""
        return {name: to_dict(parameter) for name, parameter in self.parameters.items()}

    def decode(self, drawn: Mapping[str, Any]) -> dict[str, Any]:
        """The config values of a trial's drawn parameters (JSON-encoded choices decoded)."""
        return {
            name: p.decode(drawn[name]) if isinstance(p, Choice) else drawn[name]
            for name, p in self.parameters.items()
            if name in drawn
        }


class Suggester(Protocol):
    """The part of an Optuna trial :func:`suggest` uses."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def suggest(trial: Suggester, space: SearchSpace) -> dict[str, Any]:
    """One value per key of ``space`` drawn from ``trial``, decoded to config values."""
    values: dict[str, Any] = {}
    for name, parameter in space.parameters.items():
        if isinstance(parameter, Choice):
            values[name] = parameter.decode(trial.suggest_categorical(name, parameter.encoded()))
        elif parameter.integer:
            step = int(parameter.step) if parameter.step is not None else 1
            low, high = int(parameter.low), int(parameter.high)
            values[name] = trial.suggest_int(name, low, high, step=step, log=parameter.log)
        else:
            step_float = None if parameter.step is None else float(parameter.step)
            low_f, high_f = float(parameter.low), float(parameter.high)
            values[name] = trial.suggest_float(name, low_f, high_f, step=step_float, log=parameter.log)
    return values


def apply_params(data: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the nested recipe ``data`` with each dotted key of ``params`` set.

    Raises
    ------
    ConfigError
        When a key passes through a value that is not a mapping (``optim.lr.x``).

    """
    result: dict[str, Any] = copy.deepcopy(dict(data))
    for dotted, value in params.items():
        parts = dotted.split(".")
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                above = ".".join(parts[: depth + 1])
                raise ConfigError(f"{dotted}: {above} is {child!r}, not a mapping of options")
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return result

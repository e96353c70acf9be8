"""Every numeric option of every config refuses bad values with a ConfigError naming it (issue 15).

The configs are discovered, not listed: every :class:`~earmark.registry.Registry` found in an
earmark module (models, strategies, augmentations, front-ends, loaders), the top-level configs
(training, prepare, tuning, pipeline stages) and every config dataclass nested in their fields.
A new config is tested as soon as it is registered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import pkgutil
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import earmark
from earmark.config import INT64_MAX, ConfigError, Range, from_dict, numeric_fields
from earmark.registry import Registry

#: Options a config needs before it builds at all (required keys without a default aside,
#: which take "x"). A config missing here that does not build from its defaults fails
#: ``test_every_config_builds_from_its_defaults``, naming it.
BASE_OPTIONS: dict[str, dict[str, Any]] = {
    "EnhanceConfig": {"teacher_run": "x", "gamma": 50.0},
    "LabelEnhancedMeanTeacherConfig": {"teacher_run": "x", "gamma": 50.0},
    "TrainStage": {},
    "FilterStage": {"model_from": "x"},
    "RelabelStage": {"edits": ["x"]},
    "Take": {"table": "x"},
    "PseudoLabelConfig": {"teacher_run": "x"},
    "SuspectsConfig": {"table": "x"},
    "TuneConfig": {"space": {"optim.lr": {"low": 1e-4, "high": 1e-2}}},
}

#: Values no numeric option takes, whatever its range (huge numbers: see the range test).
ALWAYS_BAD: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    "banana",
    [1],
    {"a": 1},
    True,
]


def _modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(earmark.__path__, "earmark."):
        if info.name == "earmark.__main__":  # runs the command line
            continue
        try:
            yield importlib.import_module(info.name)
        except ImportError:  # an optional dependency is absent
            continue


def _top_level() -> list[type]:
    from earmark.cli.prepare_cmd import PrepareConfig
    from earmark.pipeline import stages
    from earmark.training.config import TrainConfig
    from earmark.tuning.config import TuneConfig

    stage_classes = [
        value
        for value in vars(stages).values()
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == stages.__name__
    ]
    return [TrainConfig, PrepareConfig, TuneConfig, *stage_classes]


def _nested(cls: type, seen: set[type]) -> None:
    if cls in seen:
        return
    seen.add(cls)
    for hint in typing.get_type_hints(cls).values():
        for arg in (hint, *typing.get_args(hint)):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                _nested(arg, seen)


def discover_configs() -> list[type]:
    """Every config dataclass: registered, top-level, and nested in either."""
    roots: list[type] = _top_level()
    for module in _modules():
        for value in vars(module).values():
            if isinstance(value, Registry):
                roots.extend(e.config_class for e in map(value.entry, value) if e.config_class is not None)
    seen: set[type] = set()
    for cls in roots:
        _nested(cls, seen)
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


CONFIGS = discover_configs()


def _base(cls: type, name: str, base: type) -> type:
    """float for a field that takes floats (``int | float`` too), else ``base``."""
    return float if "float" in str(typing.get_type_hints(cls)[name]) else base


FIELDS = [
    (cls, name, _base(cls, name, base), allowed)
    for cls in CONFIGS
    for name, base, allowed in numeric_fields(cls)
]


def _id(cls: type) -> str:
    return f"{cls.__module__.removeprefix('earmark.')}.{cls.__qualname__}"


def base_options(cls: type) -> dict[str, Any]:
    required = {
        f.name: "x"
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return {**required, **BASE_OPTIONS.get(cls.__name__, {})}


def _is_sequence(cls: type, name: str) -> bool:
    hint = typing.get_type_hints(cls)[name]
    options = [hint, *typing.get_args(hint)]
    return any(typing.get_origin(h) in (tuple, list) for h in options)


def _build(cls: type, name: str, value: Any) -> Any:
    given_value = [value] if _is_sequence(cls, name) else value
    return from_dict(cls, {**base_options(cls), name: given_value})


def test_discovery_finds_the_configs_of_every_kind():
    names = {cls.__name__ for cls in CONFIGS}
    assert {
        "TrainConfig",
        "OptimConfig",
        "DataConfig",
        "PrepareConfig",
        "TuneConfig",
        "LogMelConfig",
    } <= names
    assert {"CnnConfig", "MeanTeacherConfig", "SpecAugmentConfig", "OpenMicOptions", "SelectStage"} <= names
    assert len(FIELDS) > 100


@pytest.mark.parametrize("cls", CONFIGS, ids=_id)
def test_every_config_builds_from_its_defaults(cls):
    built = from_dict(cls, base_options(cls))
    assert isinstance(built, cls)


@pytest.mark.parametrize(
    ("cls", "name"), [(c, n) for c, n, _, _ in FIELDS], ids=lambda v: getattr(v, "__name__", v)
)
def test_every_numeric_option_declares_its_range(cls, name):
    declared = {field: allowed for field, _, allowed in numeric_fields(cls)}
    assert declared[name] is not None, f"{_id(cls)}.{name}: give it an Annotated[..., Range(...)] hint"


@pytest.mark.parametrize(
    ("cls", "name"), [(c, n) for c, n, _, _ in FIELDS], ids=lambda v: getattr(v, "__name__", v)
)
@pytest.mark.parametrize("value", ALWAYS_BAD, ids=repr)
def test_values_no_option_takes_are_config_errors_naming_it(cls, name, value):
    with pytest.raises(ConfigError, match=name):
        _build(cls, name, value)


def _numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0, -1, 1, 0.5, -0.5, 1e300, -1e300, INT64_MAX, INT64_MAX + 1]),
    )


@pytest.mark.parametrize(
    ("cls", "name", "base", "allowed"), FIELDS, ids=lambda v: getattr(v, "__name__", None)
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_numbers())
def test_a_number_out_of_range_is_a_config_error_naming_the_option(cls, name, base, allowed, value):
    """In range (and of the field's type): builds, or a ConfigError (a cross-field rule). Out: ConfigError."""
    if not _fits(base, allowed, value):
        with pytest.raises(ConfigError, match=name):
            _build(cls, name, value)
        return
    with contextlib.suppress(ConfigError):  # in range, refused by a rule across options (window <= n_fft)
        _build(cls, name, value)


def _fits(base: type, allowed: Range | None, value: Any) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if base is int and (not isinstance(value, int) or abs(value) > INT64_MAX):
        return False
    return allowed is None or value in allowed


def test_a_float_written_without_a_dot_is_read_as_a_float():
    from earmark.training.config import OptimConfig

    assert from_dict(OptimConfig, {"lr": "3e-3"}).lr == pytest.approx(0.003)
    with pytest.raises(ConfigError, match=r"optim.lr must be a number, got 'banana'"):
        from_dict(OptimConfig, {"lr": "banana"}, key="optim")


def test_a_config_built_directly_is_checked_too():
    from earmark.features.logmel import LogMelConfig
    from earmark.training.config import OptimConfig

    with pytest.raises(ConfigError, match=r"optim.min_lr_ratio must be in \[0, 1\], got -50"):
        OptimConfig(min_lr_ratio=-50)
    with pytest.raises(ConfigError, match=r"frontend.n_fft must be in \[16, 65536\], got 1"):
        LogMelConfig(n_fft=1, window_samples=1)

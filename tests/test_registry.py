"""The one registry type, and the five registries built from it."""

from __future__ import annotations

import dataclasses

import pytest

from earmark.augment import AUGMENTATIONS
from earmark.config import ConfigError
from earmark.data.loaders import LOADERS
from earmark.features import FRONTENDS
from earmark.models import MODELS
from earmark.registry import Registry, UnknownNameError, describe_options
from earmark.strategies import STRATEGIES


@dataclasses.dataclass(frozen=True)
class SizeConfig:
    size: int = 2
    shape: str = "round"


def small(config: SizeConfig) -> int:
    """A small toy.

    More lines that are not the summary.
    """
    return config.size


def large(config: SizeConfig) -> int:
    return 10 * config.size


@pytest.fixture
def toys() -> Registry[object]:
    registry: Registry[object] = Registry("toy")
    registry.register("small", SizeConfig)(small)
    registry.add("large", large, SizeConfig)
    registry.add("plain", "no config")
    return registry


def test_lookup_iteration_and_entries(toys: Registry[object]) -> None:
    assert list(toys) == ["small", "large", "plain"]  # in registration order
    assert len(toys) == 3
    assert toys["small"] is small
    assert "large" in toys
    assert "medium" not in toys
    assert toys.get("medium") is None
    assert dict(toys.items()) == {"small": small, "large": large, "plain": "no config"}
    entry = toys.entry("small")
    assert (entry.name, entry.value, entry.config_class, entry.summary) == (
        "small",
        small,
        SizeConfig,
        "A small toy.",
    )
    assert toys.entry("large").summary == ""


def test_an_unknown_name_is_named_with_the_known_ones(toys: Registry[object]) -> None:
    with pytest.raises(ConfigError, match=r"^unknown toy 'medium'; known toys: large, plain, small$"):
        toys["medium"]
    with pytest.raises(KeyError):
        toys.entry("medium")
    with pytest.raises(UnknownNameError, match="unknown toy 'medium'"):
        toys.config("medium", {})
    with pytest.raises(ConfigError, match="known toys: none"):
        Registry("toy")["any"]


def test_the_plural_is_used_in_messages() -> None:
    with pytest.raises(ConfigError, match="known strategies: none"):
        Registry("strategy", plural="strategies")["any"]


def test_config_is_built_strictly_with_defaults(toys: Registry[object]) -> None:
    assert toys.config("small", {"size": 5}) == SizeConfig(size=5, shape="round")
    assert toys.config("small") == SizeConfig()
    with pytest.raises(
        ConfigError, match=r"^toy 'small': unknown config key toy_options\.sise; valid keys: shape, size$"
    ):
        toys.config("small", {"sise": 5}, key="toy_options")
    with pytest.raises(ConfigError, match=r"toy 'large': size must be an integer, got 'big'"):
        toys.config("large", {"size": "big"})


def test_an_entry_without_config_takes_no_options(toys: Registry[object]) -> None:
    assert toys.config("plain") is None
    assert toys.config("plain", {}) is None
    with pytest.raises(ConfigError, match="toy 'plain' takes no options; remove size"):
        toys.config("plain", {"size": 1})


def test_a_duplicate_name_raises_naming_the_first(toys: Registry[object]) -> None:
    with pytest.raises(ValueError, match=r"toy 'small' is already registered by \S*test_registry\.small"):
        toys.add("small", large, SizeConfig)
    assert toys["small"] is small


def test_a_config_that_is_not_a_dataclass_raises_at_once(toys: Registry[object]) -> None:
    with pytest.raises(TypeError, match="the config of toy 'odd' must be a dataclass, got <class 'dict'>"):
        toys.register("odd", dict)
    with pytest.raises(TypeError, match="must be a dataclass"):
        toys.add("odd", small, SizeConfig())  # type: ignore[arg-type]
    assert "odd" not in toys


@pytest.mark.parametrize(
    ("registry", "kind", "plural", "name"),
    [
        (MODELS, "model", "models", "cnn"),
        (STRATEGIES, "strategy", "strategies", "mean_teacher"),
        (AUGMENTATIONS, "augmentation", "augmentations", "mixup"),
        (FRONTENDS, "front-end", "front-ends", "logmel"),
        (LOADERS, "layout", "layouts", "folder"),
    ],
)
def test_the_five_registries_are_registries_with_a_config_per_entry(
    registry: Registry[object], kind: str, plural: str, name: str
) -> None:
    assert isinstance(registry, Registry)
    assert (registry.kind, registry.plural) == (kind, plural)
    assert name in registry
    for entry_name in registry:
        config_class = registry.entry(entry_name).config_class
        assert config_class is not None
        assert dataclasses.is_dataclass(config_class)
    with pytest.raises(ConfigError, match=rf"unknown {kind} 'nope'; known {plural}: .*{name}"):
        registry.entry("nope")
    with pytest.raises(ConfigError, match=rf"{kind} '{name}': unknown config key opts\.colour"):
        registry.config(name, {"colour": 1}, key="opts")


def test_class_registries_name_their_classes() -> None:
    for registry in (STRATEGIES, AUGMENTATIONS, FRONTENDS):
        for name in registry:
            assert registry[name].name == name  # type: ignore[attr-defined]
            assert registry.entry(name).config_class is registry[name].config_class  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class _Documented:
    """A config documented both ways numpydoc allows.

    Attributes
    ----------
    typed : int
        the meaning, below its type.
    inline : the meaning starts on the name's line and goes on
        over the next one.
    short : on one line.
    """

    typed: int = 1
    inline: str = "a"
    short: bool = False


def test_meanings_read_typed_inline_and_continued_entries() -> None:
    meanings = {o.name: o.meaning for o in describe_options(_Documented)}
    assert meanings == {
        "typed": "the meaning, below its type.",
        "inline": "the meaning starts on the name's line and goes on over the next one.",
        "short": "on one line.",
    }

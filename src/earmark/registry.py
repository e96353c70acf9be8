"""One registry type for every named, pluggable part of earmark.

Models, strategies, augmentations, front-ends and data-set loaders are each a :class:`Registry`:
a read-only mapping from a name to the registered object (a class or a builder function),
filled by a decorator where the object is defined. Each entry may carry a frozen config
dataclass, from which :meth:`Registry.config` builds the entry's options strictly (unknown keys
and wrong types raise :class:`~earmark.config.ConfigError` naming the key). Looking up an
unknown name raises :class:`UnknownNameError`, naming it and listing the known names.

Example::

    TOYS: Registry[type[Toy]] = Registry("toy")

    @TOYS.register("small", SmallConfig)
    class Small(Toy): ...

    TOYS["small"]                      # the class
    TOYS.config("small", {"size": 3})  # SmallConfig(size=3), the other fields at their defaults
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from earmark.config import ConfigError, from_dict

__all__ = ["Entry", "Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(ConfigError, KeyError):
    """A name no entry of a registry has.

    A :class:`~earmark.config.ConfigError` for the user (the message lists the known names) and a
    ``KeyError`` for code using the registry as a mapping (``get``, ``in``).
    """

    __str__ = ConfigError.__str__  # the message as written, not KeyError's quoted repr


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object.

    Attributes
    ----------
    name : the name it is registered (and written in recipes) under.
    value : the object: a class or a builder function.
    config_class : the frozen dataclass of its options, or None when it takes none.
    summary : the first line of the object's docstring ("" without one).

    """

    name: str
    value: T
    config_class: type[Any] | None
    summary: str


class Registry(Mapping[str, T]):
    """Named objects of one kind, each with an optional config dataclass.

    Parameters
    ----------
    kind
        What an entry is, for messages: ``"model"``, ``"front-end"``.
    plural
        The plural of ``kind`` (default: ``kind + "s"``).

    """

    def __init__(self, kind: str, *, plural: str = "") -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, value: T, config_class: type[Any] | None = None) -> Entry[T]:
        """Register ``value`` under ``name`` with its config dataclass (or None).

        Raises
        ------
        ValueError
            ``name`` is already registered.
        TypeError
            ``config_class`` is neither None nor a dataclass.

        """
        self._check_config_class(name, config_class)
        if name in self._entries:
            previous = self._entries[name].value
            raise ValueError(f"{self.kind} {name!r} is already registered by {_qualified_name(previous)}")
        entry = Entry(name, value, config_class, _summary(value))
        self._entries[name] = entry
        return entry

    def register(self, name: str, config_class: type[Any] | None = None) -> Callable[[T], T]:
        """Decorator form of :meth:`add`; returns the object unchanged.

        A ``config_class`` that is not a dataclass raises ``TypeError`` at once, before any object
        is decorated.
        """
        self._check_config_class(name, config_class)

        def decorate(value: T) -> T:
            self.add(name, value, config_class)
            return value

        return decorate

    def entry(self, name: str) -> Entry[T]:
        """The entry registered as ``name``; an unknown name raises :class:`UnknownNameError`."""
        found = self._entries.get(name)
        if found is None:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known {self.plural}: {known}")
        return found

    def config(self, name: str, options: Mapping[str, Any] | None = None, *, key: str = "") -> Any:
        """The config of ``name`` built strictly from ``options``; omitted fields take their defaults.

        Parameters
        ----------
        name
            A registered name.
        options
            Fields of the entry's config dataclass (None: all defaults).
        key
            The dotted key ``options`` sit under in a recipe (``model_options``), prefixed to
            the keys named in errors.

        Returns
        -------
        Any
            An instance of the entry's config dataclass, or None for an entry that has none.

        Raises
        ------
        ConfigError
            Unknown name, unknown key, wrong type or invalid value; the message starts with the
            kind and name (``strategy 'mean_teacher': unknown config key strategy_options.alpah``).

        """
        entry = self.entry(name)
        if entry.config_class is None:
            if options:
                raise ConfigError(
                    f"{self.kind} {name!r} takes no options; remove {', '.join(map(str, options))}"
                )
            return None
        try:
            return from_dict(entry.config_class, options, key=key)
        except ConfigError as error:
            raise ConfigError(f"{self.kind} {name!r}: {error}") from error

    def __getitem__(self, name: str) -> T:
        return self.entry(name).value

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

    def _check_config_class(self, name: str, config_class: type[Any] | None) -> None:
        if config_class is not None and not (
            isinstance(config_class, type) and dataclasses.is_dataclass(config_class)
        ):
            raise TypeError(f"the config of {self.kind} {name!r} must be a dataclass, got {config_class!r}")


def _qualified_name(value: object) -> str:
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None)
    return f"{module}.{name}" if module and name else repr(value)


def _summary(value: object) -> str:
    lines = (getattr(value, "__doc__", None) or "").strip().splitlines()
    return lines[0] if lines else ""

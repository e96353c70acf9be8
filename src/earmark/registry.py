"""One registry type for every named, pluggable part of earmark.

Models, strategies, augmentations, front-ends and data-set loaders are each a :class:`Registry`:
a read-only mapping from a name to the registered object (a class or a builder function),
filled by a decorator where the object is defined. Each entry may carry a frozen config
dataclass, from which :meth:`Registry.config` builds the entry's options strictly (unknown keys
and wrong types raise :class:`~earmark.config.ConfigError` naming the key). Looking up an
unknown name raises :class:`UnknownNameError`, naming it and listing the known names.
:meth:`Registry.options` describes each option of an entry (name, type, default and a one-line
meaning read from the config dataclass and its docstring), which ``earmark list``, ``earmark
prepare LAYOUT --help``, ``write-default-config`` and the README's reference section show.

Example::

    TOYS: Registry[type[Toy]] = Registry("toy")

    @TOYS.register("small", SmallConfig)
    class Small(Toy): ...

    TOYS["small"]                      # the class
    TOYS.config("small", {"size": 3})  # SmallConfig(size=3), the other fields at their defaults
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Generic, Literal, TypeVar

from earmark.config import ConfigError, Range, from_dict, to_dict

__all__ = ["Entry", "OptionInfo", "Registry", "UnknownNameError", "describe_options", "one_line", "type_text"]

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

    def options(self, name: str) -> list[OptionInfo]:
        """Each option of ``name``: its type, default and one-line meaning (:func:`describe_options`)."""
        return describe_options(self.entry(name).config_class)

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


_SECTION = re.compile(r"^(Parameters|Attributes|Options)\s*$")
_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+?)\s*$")


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """One option of a component: its name, type, default (None when required) and meaning."""

    name: str
    type: str
    default: Any
    required: bool
    meaning: str


def type_text(hint: Any) -> str:
    """A short readable form of a field's type hint (``int >= 1``, ``one of raise, skip``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        ranges = [str(a) for a in args[1:] if isinstance(a, Range)]
        return " ".join([type_text(args[0]), *ranges])
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        kept = [type_text(a) for a in args if a is not type(None)]
        return " or ".join(kept) + (" or null" if type(None) in args else "")
    if origin in (tuple, list) or hint in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return f"list of {type_text(inner[0])}" if inner else "list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "mapping"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"mapping ({hint.__name__})"
    if hint is Any:
        return "any"
    return getattr(hint, "__name__", str(hint))


#: Longest meaning kept; a longer first sentence is cut at a word.
MEANING_CHARS = 160


def one_line(text: str) -> str:
    """``text`` on one line, cut after its first sentence (and at most :data:`MEANING_CHARS`)."""
    text = " ".join(text.replace("``", "`").split())
    found = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)", text)
    text = text[: found.start() + 1] if found else text
    if len(text) > MEANING_CHARS:
        text = text[: text.rfind(" ", 0, MEANING_CHARS)].rstrip(",;:") + " …"
    return text


def _docstring_entries(doc: str) -> tuple[dict[str, str], list[str]]:
    """Meanings listed in the numpydoc sections, and the prose sentences outside them."""
    lines = inspect.cleandoc(doc).splitlines()
    entries: dict[str, str] = {}
    prose: list[str] = []
    section = False
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        if underline:
            section = bool(_SECTION.match(line.strip()))
            i += 2
            continue
        if not section or not line.strip() or line.startswith(" "):
            if not section:
                prose.append(line)
            i += 1
            continue
        names, _, rest = line.partition(":")
        description = []
        i += 1
        while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
            description.append(lines[i].strip())
            i += 1
        # ``name : meaning`` may go on over indented lines; ``name : type`` has it below
        head = "" if _is_type(rest) else rest.strip()
        text = " ".join(d for d in [head, *description] if d) or rest.strip()
        for name in names.split(","):
            entries.setdefault(name.strip(), one_line(text))
    sentences = re.split(r"(?<=\.)\s+", " ".join(" ".join(prose).split()))
    return entries, sentences


#: Words a numpydoc type (``int``, ``str or None``, ``tuple of float``) is made of.
_TYPE_WORDS = frozenset(
    {"int", "float", "bool", "str", "None", "or", "of", "optional", "tuple", "list", "dict"}
)


def _is_type(text: str) -> bool:
    """Whether ``text`` after ``name :`` is a numpydoc type rather than the start of a meaning."""
    words = re.findall(r"[A-Za-z_]\w*", text)
    return bool(words) and all(w in _TYPE_WORDS or w[0].isupper() for w in words)


def _meanings(config_class: type[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for cls in config_class.__mro__:
        if not dataclasses.is_dataclass(cls):
            continue
        entries, sentences = _docstring_entries(cls.__doc__ or "")
        for name, text in entries.items():
            found.setdefault(name, text)
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            source = ""
        for line in source.splitlines():
            comment = _COMMENT.match(line)
            if comment:
                found.setdefault(comment[1], one_line(comment[2]))
        for field in dataclasses.fields(cls):
            mention = _mention(field.name, sentences)
            if mention:
                found.setdefault(field.name, one_line(mention))
    # last: a sentence of the module's docstring naming the option (``fields as in the module``)
    module = sys.modules.get(config_class.__module__)
    _, sentences = _docstring_entries(getattr(module, "__doc__", None) or "")
    for field in dataclasses.fields(config_class):
        mention = _mention(field.name, sentences)
        if mention:
            found.setdefault(field.name, one_line(mention))
    return found


def _mention(name: str, sentences: list[str]) -> str | None:
    """The first sentence naming ``name`` in double backticks (alone or in an expression)."""
    pattern = re.compile(rf"``[^`]*\b{re.escape(name)}\b[^`]*``")
    return next((s for s in sentences if pattern.search(s)), None)


def describe_options(config_class: type[Any] | None) -> list[OptionInfo]:
    """Every option of a config dataclass with its type, default and one-line meaning."""
    if config_class is None:
        return []
    hints = typing.get_type_hints(config_class, include_extras=True)
    meanings = _meanings(config_class)
    options = []
    for field in dataclasses.fields(config_class):
        if not field.init:
            continue
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if required:
            default = None
        elif field.default_factory is not dataclasses.MISSING:
            default = to_dict(field.default_factory())
        else:
            default = to_dict(field.default)
        meaning = meanings.get(field.name, "")
        options.append(OptionInfo(field.name, type_text(hints[field.name]), default, required, meaning))
    return options

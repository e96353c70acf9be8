"""The target vocabulary: the tags everything collapses onto, each with its category.

A vocabulary is built from ``(name, category)`` entries (the thesis's ``targets.csv``: 50
targets in the categories genre, emotion, descriptive and number). Problems are reported in
:attr:`Vocabulary.warnings`, never raised, as long as one target remains:

- a target whose normalised text (or its space-free form) repeats an earlier one is dropped
  (``singer songwriter`` after ``singer-songwriter``);
- an unusable target (empty, punctuation only, too long) is dropped;
- a target's optional ``parent`` (another target's name: ``indie rock`` under ``rock``) that
  names no target, the target itself, or closes a cycle is dropped;
- a target without a category gets the one the word lists give it
  (:func:`~earmark.tags.categorize.categorize_tag`); when they give none (junk), it is grouped
  as :data:`UNCATEGORIZED`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence

from earmark.tags.categorize import WordLists, categorize_tag, load_wordlists
from earmark.tags.normalize import UNUSABLE, compact, normalize_tag

__all__ = ["UNCATEGORIZED", "Entry", "Target", "Vocabulary", "build_vocabulary"]

#: A vocabulary entry: a name, ``(name, category)`` or ``(name, category, parent)``.
Entry = str | tuple[str, str | None] | tuple[str, str | None, str | None]

UNCATEGORIZED = "uncategorized"


@dataclasses.dataclass(frozen=True)
class Target:
    """One target tag.

    Attributes
    ----------
    name
        the target as the vocabulary spells it (``singer-songwriter``); used in every output.
    text
        its normalised text (``singer songwriter``).
    category
        its category (genre, emotion, …) or :data:`UNCATEGORIZED`.
    category_source
        ``vocabulary`` when the vocabulary named it, ``word lists`` when it was inferred,
        ``none`` for :data:`UNCATEGORIZED`.
    parent
        the name of the target it belongs under ("" for none): with ``--multi`` a tag mapped
        to it is also mapped to its parents, and stage III may place a tag under it.

    """

    name: str
    text: str
    category: str
    category_source: str = "vocabulary"
    parent: str = ""

    @property
    def words(self) -> int:
        """Number of words of the normalised text."""
        return self.text.count(" ") + 1


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Targets in order, with the warnings raised while building them."""

    targets: tuple[Target, ...]
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("the vocabulary has no usable target")

    @property
    def names(self) -> tuple[str, ...]:
        """Target names, in order."""
        return tuple(t.name for t in self.targets)

    @functools.cached_property
    def by_name(self) -> dict[str, Target]:
        """Name → target."""
        return {t.name: t for t in self.targets}

    @functools.cached_property
    def by_text(self) -> dict[str, Target]:
        """Normalised text → target."""
        return {t.text: t for t in self.targets}

    @functools.cached_property
    def by_compact(self) -> dict[str, Target]:
        """Normalised text without spaces → target."""
        return {compact(t.text): t for t in self.targets}

    def categories(self) -> dict[str, str]:
        """Target name → category: the class groups of per-category metrics."""
        return {t.name: t.category for t in self.targets}

    def find(self, name: str) -> Target | None:
        """The target called ``name``, matched as given or by its normalised text."""
        return self.by_name.get(name) or self.by_text.get(normalize_tag(name).text)

    def ancestors(self, target: Target) -> tuple[Target, ...]:
        """The target's parent, its parent's parent, … (nearest first; cycles were dropped)."""
        found: list[Target] = []
        while target.parent and (parent := self.by_name.get(target.parent)) is not None:
            found.append(parent)
            target = parent
        return tuple(found)


def _entries(entries: Iterable[Entry]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for entry in entries:
        name, category, parent = (entry, None, None) if isinstance(entry, str) else (*entry, None)[:3]
        out.append((str(name), (category or "").strip(), (parent or "").strip()))
    return out


def _link_parents(targets: list[Target], warnings: list[str]) -> list[Target]:
    """Targets with their parents resolved to target names; bad parents dropped and reported."""
    by_key = {t.name: t for t in targets} | {t.text: t for t in targets}
    linked: dict[str, Target] = {}
    for target in targets:
        parent = by_key.get(target.parent) or by_key.get(normalize_tag(target.parent).text)
        if target.parent and (parent is None or parent.name == target.name):
            warnings.append(
                f"target {target.name!r} has parent {target.parent!r}, which is no other target; dropped"
            )
        linked[target.name] = dataclasses.replace(
            target, parent=parent.name if parent and parent is not target else ""
        )
    for name in list(linked):
        seen, current = {name}, linked[name]
        while current.parent:
            if current.parent in seen:
                warnings.append(f"target {name!r}: its parents form a cycle; its parent is dropped")
                linked[name] = dataclasses.replace(linked[name], parent="")
                break
            seen.add(current.parent)
            current = linked[current.parent]
    return [linked[t.name] for t in targets]


def build_vocabulary(
    entries: Iterable[Entry],
    *,
    wordlists: WordLists | None = None,
    categories: Sequence[str] | None = None,
) -> Vocabulary:
    """Build a :class:`Vocabulary` from names or ``(name, category)`` pairs.

    Parameters
    ----------
    entries
        target names, pairs of name and category (None or "" for none), or triples of name,
        category and parent (another target's name, None or "" for none).
    wordlists
        word lists that categorise targets without a category; None loads the shipped ones.
    categories
        when given, the only category names allowed (others are reported and inferred).

    Returns
    -------
    :class:`Vocabulary`; a ValueError when no usable target remains.

    """
    targets: list[Target] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    lists = wordlists
    for name, category, parent in _entries(entries):
        tag = normalize_tag(name)
        unusable = [p for p in tag.problems if p in UNUSABLE]
        if unusable:
            warnings.append(f"target {name!r} is unusable ({', '.join(unusable)}); dropped")
            continue
        key = compact(tag.text)
        if key in seen:
            warnings.append(f"target {name!r} duplicates {seen[key]!r} once normalised; dropped")
            continue
        seen[key] = name
        if category and categories is not None and category not in categories:
            warnings.append(
                f"target {name!r} has unknown category {category!r} "
                f"(valid: {', '.join(categories)}); inferred instead"
            )
            category = ""
        if category:
            targets.append(Target(name, tag.text, category, parent=parent))
            continue
        lists = lists if lists is not None else load_wordlists()
        inferred = categorize_tag(tag, wordlists=lists).category
        if inferred == "junk":
            warnings.append(f"target {name!r} is in no category; grouped as {UNCATEGORIZED!r}")
            targets.append(Target(name, tag.text, UNCATEGORIZED, "none", parent))
        else:
            warnings.append(f"target {name!r} had no category; the word lists say {inferred!r}")
            targets.append(Target(name, tag.text, inferred, "word lists", parent))
    if not targets:
        detail = f": {'; '.join(warnings)}" if warnings else ""
        raise ValueError(f"the vocabulary has no usable target{detail}")
    return Vocabulary(tuple(_link_parents(targets, warnings)), tuple(warnings))

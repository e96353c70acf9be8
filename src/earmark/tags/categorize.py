"""Categorising tags: emotion, descriptive, genre, number or junk.

The word lists shipped in ``earmark/tags/wordlists/`` (one ``<category>.txt`` per category,
written for earmark) say which words belong to which category; :func:`load_wordlists` reads them
and can add or replace words. A tag is categorised by the first of these rules that applies:

1. ``problem``: the tag is unusable (empty, no letters, too long, a duplicate) → junk;
2. ``exact``: the whole normalised tag is an entry of a list;
3. ``words``: some word or word sequence of the tag is an entry (longest entries first, their
   words not reused: ``seen live`` is junk, not ``live``), or a number (``80s``, ``1999``,
   ``top 5``), glued words split into two known ones first (``punkrock`` → ``punk rock``);
   when several categories are found the first in ``priority`` wins (by default genre, emotion,
   descriptive, number, junk, so ``80s metal`` is genre and ``my favorites`` junk);
4. ``typo``: a word of four letters or more is within Jaro-Winkler ``score_level`` of an entry
   (``rcok`` → ``rock``), the category of the closest entry;
5. ``junk-pattern``: a letter repeated four times or more (``zzzzzzzz``), or a long word without
   a vowel → junk;
6. ``unmatched``: anything else → junk.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources

from earmark.tags.normalize import (
    DEFAULT_MAX_CHARS,
    UNUSABLE,
    NormalizedTag,
    normalize_tag,
    normalize_text,
    split_compound,
)
from earmark.tags.typos import DEFAULT_SCORE_LEVEL, check_score_level, closest

__all__ = [
    "CATEGORIES",
    "DEFAULT_PRIORITY",
    "TagCategory",
    "WordLists",
    "categorize_tag",
    "categorize_tags",
    "is_number_word",
    "load_wordlists",
]

CATEGORIES: tuple[str, ...] = ("emotion", "descriptive", "genre", "number", "junk")
DEFAULT_PRIORITY: tuple[str, ...] = ("genre", "emotion", "descriptive", "number", "junk")

#: Words that carry no category and are skipped when looking for one.
FILLER = frozenset(
    {"a", "an", "the", "and", "or", "of", "in", "on", "to", "for", "with", "by", "at", "from", "is", "are"}
    | {"be", "it", "its", "this", "that", "so", "very", "too", "music"}
)
_NUMBER = re.compile(r"\d+(?:s|st|nd|rd|th)?|(?:mid|early|late)\d{2}s")
_REPEATED = re.compile(r"(.)\1{3,}")
_NO_VOWEL = re.compile(r"[b-df-hj-np-tv-xz]{5,}")
_MIN_TYPO_LETTERS = 4


@dataclasses.dataclass(frozen=True)
class WordLists:
    """Category word lists, normalised, with a lookup index.

    Attributes
    ----------
    words
        category → frozenset of normalised entries (single words or word sequences).

    """

    words: Mapping[str, frozenset[str]]

    @functools.cached_property
    def index(self) -> dict[str, frozenset[str]]:
        """Entry → the categories that list it."""
        found: dict[str, set[str]] = {}
        for category, entries in self.words.items():
            for entry in entries:
                found.setdefault(entry, set()).add(category)
        return {entry: frozenset(cats) for entry, cats in found.items()}

    @functools.cached_property
    def max_words(self) -> int:
        """The longest entry, in words."""
        return max((entry.count(" ") + 1 for entries in self.words.values() for entry in entries), default=1)

    @functools.cached_property
    def known_words(self) -> frozenset[str]:
        """Every word of every entry (the pieces a glued word may split into)."""
        return frozenset(w for entries in self.words.values() for e in entries for w in e.split(" "))

    def single_words(self, *, min_letters: int = _MIN_TYPO_LETTERS) -> tuple[str, ...]:
        """Sorted one-word entries of at least ``min_letters`` characters (typo targets)."""
        return tuple(
            sorted(
                {
                    e
                    for entries in self.words.values()
                    for e in entries
                    if " " not in e and len(e) >= min_letters
                }
            )
        )


def _read_list(text: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [normalize_text(line) for line in lines if line]


def load_wordlists(extra: Mapping[str, Iterable[str]] | None = None, *, replace: bool = False) -> WordLists:
    """The shipped word lists, with ``extra`` words added (or replacing them).

    Parameters
    ----------
    extra
        category → words to add; categories must be among :data:`CATEGORIES`.
    replace
        when True, a category named in ``extra`` takes only those words.

    Returns
    -------
    :class:`WordLists`.

    """
    package = resources.files("earmark.tags") / "wordlists"
    words: dict[str, set[str]] = {}
    for category in CATEGORIES:
        words[category] = set(_read_list((package / f"{category}.txt").read_text(encoding="utf-8")))
    for category, entries in (extra or {}).items():
        if category not in CATEGORIES:
            raise ValueError(f"unknown tag category {category!r}; valid categories: {', '.join(CATEGORIES)}")
        added = {normalize_text(entry) for entry in entries} - {""}
        words[category] = added if replace else words[category] | added
    return WordLists({category: frozenset(entries) for category, entries in words.items()})


@dataclasses.dataclass(frozen=True)
class TagCategory:
    """The category of one tag and why.

    Attributes
    ----------
    tag
        the normalised tag.
    category
        one of :data:`CATEGORIES`.
    rule
        ``problem``, ``exact``, ``words``, ``typo``, ``junk-pattern`` or ``unmatched``.
    matched
        the entry, number or problem that decided it ("" for ``unmatched``).
    score
        1.0, or the Jaro-Winkler similarity for ``typo``.

    """

    tag: NormalizedTag
    category: str
    rule: str
    matched: str = ""
    score: float = 1.0


def is_number_word(word: str) -> bool:
    """True for digits, decades, years and ordinals: ``80s``, ``1999``, ``2000s``, ``21st``."""
    return _NUMBER.fullmatch(word) is not None


def _check_priority(priority: Sequence[str]) -> tuple[str, ...]:
    if sorted(priority) != sorted(CATEGORIES):
        raise ValueError(
            f"priority must order all of {', '.join(CATEGORIES)} once each, got {', '.join(priority)}"
        )
    return tuple(priority)


def _first(categories: Iterable[str], priority: Sequence[str]) -> str:
    return min(categories, key=priority.index)


def _longest_entries(words: Sequence[str], max_words: int, index: Mapping[str, object]) -> list[str]:
    """Entries found in ``words``, longest first; a word inside a found entry is not reused."""
    used = [False] * len(words)
    found: list[str] = []
    for size in range(min(max_words, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            span = " ".join(words[start : start + size])
            if span in index and not any(used[start : start + size]):
                used[start : start + size] = [True] * size
                found.append(span)
    return found


class _Categorizer:
    """The rules over one set of word lists, with per-call memos of typo look-ups and compound splits."""

    def __init__(self, wordlists: WordLists, score_level: float, priority: tuple[str, ...]) -> None:
        self.index = wordlists.index
        self.max_words = wordlists.max_words
        self.typo_choices = wordlists.single_words()
        self.known = wordlists.known_words
        self.score_level = score_level
        self.priority = priority
        self.typos: dict[str, tuple[str, float] | None] = {}
        self.splits: dict[str, tuple[str, str] | None] = {}

    def __call__(self, tag: NormalizedTag) -> TagCategory:
        if not tag.usable:
            problem = next(p for p in tag.problems if p in UNUSABLE)
            return TagCategory(tag, "junk", "problem", problem)
        text = tag.text
        if text in self.index:
            return TagCategory(tag, _first(self.index[text], self.priority), "exact", text)
        words = self._split([w for w in text.split(" ") if w not in FILLER] or text.split(" "))
        found: dict[str, str] = {}
        for span in _longest_entries(words, self.max_words, self.index):
            for category in self.index[span]:
                found.setdefault(category, span)
        for word in words:
            if is_number_word(word):
                found.setdefault("number", word)
        if found:
            category = _first(found, self.priority)
            return TagCategory(tag, category, "words", found[category])
        typo = self._typo(words)
        if typo is not None:
            return typo_result(tag, typo, self.index, self.priority)
        pattern = _REPEATED.search(text) or _NO_VOWEL.search(text)
        if pattern is not None:
            return TagCategory(tag, "junk", "junk-pattern", pattern.group(0))
        return TagCategory(tag, "junk", "unmatched")

    def _split(self, words: Sequence[str]) -> list[str]:
        out: list[str] = []
        for word in words:
            if word not in self.splits:  # memoised: tags share most of their words
                self.splits[word] = None if word in self.index else split_compound(word, self.known)
            out.extend(self.splits[word] or (word,))
        return out

    def _typo(self, words: Sequence[str]) -> tuple[str, float] | None:
        best: tuple[str, float] | None = None
        for word in words:
            if len(word) < _MIN_TYPO_LETTERS or not word.isalpha():
                continue
            if word not in self.typos:
                self.typos[word] = closest(word, self.typo_choices, score_level=self.score_level)
            hit = self.typos[word]
            if hit is not None and (best is None or hit[1] > best[1]):
                best = hit
        return best


def typo_result(
    tag: NormalizedTag, typo: tuple[str, float], index: Mapping[str, frozenset[str]], priority: Sequence[str]
) -> TagCategory:
    """The :class:`TagCategory` of a tag whose word was corrected to the entry ``typo[0]``."""
    return TagCategory(tag, _first(index[typo[0]], priority), "typo", typo[0], typo[1])


def categorize_tags(
    tags: Iterable[str | NormalizedTag],
    *,
    wordlists: WordLists | None = None,
    score_level: float = DEFAULT_SCORE_LEVEL,
    priority: Sequence[str] = DEFAULT_PRIORITY,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[TagCategory]:
    """Categorise tags by the rules of this module.

    Parameters
    ----------
    tags
        raw tags, or tags already normalised by :func:`~earmark.tags.normalize.normalize_tags`
        (raw strings are normalised one by one, so duplicates are not flagged).
    wordlists
        the category word lists; None loads the shipped ones.
    score_level
        inclusive Jaro-Winkler threshold of the typo rule, in (0, 1].
    priority
        the order in which categories win when a tag holds words of several.
    max_chars
        length limit of raw tags (see :func:`~earmark.tags.normalize.normalize_tag`).

    Returns
    -------
    list of :class:`TagCategory`, one per tag, in order.

    """
    rules = _Categorizer(
        wordlists if wordlists is not None else load_wordlists(),
        check_score_level(score_level),
        _check_priority(priority),
    )
    return [
        rules(tag if isinstance(tag, NormalizedTag) else normalize_tag(tag, max_chars=max_chars))
        for tag in tags
    ]


def categorize_tag(
    tag: str | NormalizedTag,
    *,
    wordlists: WordLists | None = None,
    score_level: float = DEFAULT_SCORE_LEVEL,
    priority: Sequence[str] = DEFAULT_PRIORITY,
) -> TagCategory:
    """Categorise one tag (see :func:`categorize_tags`).

    Examples
    --------
    >>> categorize_tag("80s metal").category
    'genre'
    >>> categorize_tag("zzzzzzzz").rule
    'junk-pattern'

    """
    return categorize_tags([tag], wordlists=wordlists, score_level=score_level, priority=priority)[0]

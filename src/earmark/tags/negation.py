"""Negation: ``no X``, ``not X``, ``without X``, ``non-X``, ``unX``, ``Xless`` read as the opposite of X.

A target is *negated* in a tag when

- a negator of :data:`NEGATORS` comes right before it, possibly with words of
  :data:`INTENSIFIERS` between (``not metal``, ``not very good``, ``this aint rock``,
  ``kein indie``, ``pas cool``, ``sin alma``);
- or one word is a prefix of :data:`NEGATING_PREFIXES` glued to it (``unhappy``, ``nonmetal``;
  the hyphenated ``non-metal``, ``un-metal`` normalise to two words and take the first rule);
- or one word is it with the suffix ``-less`` (``soulless``).

The negators are those the last.fm data shows, in English, German, French, Spanish, Portuguese,
Italian, Dutch, Polish and Swedish. ``anti`` is not one: *anti-folk* is a style of folk.

What a negated target becomes is the collapse's choice (:mod:`earmark.tags.collapse`): the
vocabulary's ``no X`` / ``without X`` / ``non X`` / ``not X`` target when it has one
(:func:`negated_target`), else nothing; either way the tag is flagged ``negated`` in the
mapping's ``problems``, and the embedding stage never sees it (sentence embeddings place
``not happy`` next to ``happy``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from earmark.tags.vocabulary import Target, Vocabulary

__all__ = [
    "INTENSIFIERS",
    "NEGATED_TARGET_PREFIXES",
    "NEGATING_PREFIXES",
    "NEGATORS",
    "has_negator",
    "negated_target",
    "negated_word",
    "negation_before",
]

NEGATORS = frozenset(
    {
        "not",
        "no",
        "non",
        "un",
        "never",
        "without",
        "isnt",
        "aint",
        "dont",
        "doesnt",
        "cant",
        "wont",
        "nothing",
    }
    | {"nicht", "kein", "keine", "keinen", "ohne"}  # German
    | {"pas", "sans"}  # French ("non" above)
    | {"sin", "nao", "sem", "nunca", "senza"}  # Spanish, Portuguese, Italian ("no", "non" above)
    | {"niet", "geen", "zonder"}  # Dutch
    | {"nie", "bez"}  # Polish
    | {"inte", "utan", "ej"}  # Swedish
)
#: Words that may stand between a negator and the target it negates (``not very good``).
INTENSIFIERS = frozenset(
    {"very", "so", "too", "really", "that", "quite", "much", "more", "at", "all", "a", "the"}
)
#: Prefixes that negate the target glued after them (``unhappy``, ``nonmetal``).
NEGATING_PREFIXES: tuple[str, ...] = ("non", "un")
_NEGATING_SUFFIX = "less"
#: How a vocabulary spells the opposite of X, first found wins: ``no X``, ``without X``, ...
NEGATED_TARGET_PREFIXES: tuple[str, ...] = ("no", "without", "non", "not")


def has_negator(words: Sequence[str]) -> bool:
    """True when one of ``words`` is a negator of :data:`NEGATORS`."""
    return any(word in NEGATORS for word in words)


def negation_before(words: Sequence[str], start: int) -> str | None:
    """The negator that negates the span starting at word ``start``, or None.

    Walks back over :data:`INTENSIFIERS` to the nearest other word.

    Examples
    --------
    >>> negation_before(["not", "very", "good"], 2)
    'not'
    >>> negation_before(["rock", "not", "pop"], 0) is None
    True

    """
    i = start - 1
    while i >= 0 and words[i] in INTENSIFIERS:
        i -= 1
    return words[i] if i >= 0 and words[i] in NEGATORS else None


def negated_word(word: str, is_target: Callable[[str], Target | None]) -> tuple[Target, str] | None:
    """The target one glued word negates, and how (``unhappy`` → happy, ``prefix 'un'``), or None.

    Parameters
    ----------
    word
        one normalised word.
    is_target
        the target a remainder names (by itself or as an inflected form), or None.

    """
    for prefix in NEGATING_PREFIXES:
        if word.startswith(prefix) and len(word) > len(prefix) + 2:
            rest = word[len(prefix) :]
            found = is_target(rest)
            if found is not None:
                return found, f"prefix {prefix!r}"
    if word.endswith(_NEGATING_SUFFIX) and len(word) > len(_NEGATING_SUFFIX) + 2:
        base = word[: -len(_NEGATING_SUFFIX)]
        found = is_target(base) or is_target(base + "e")
        if found is not None:
            return found, f"suffix {_NEGATING_SUFFIX!r}"
    return None


def negated_target(target: Target, vocabulary: Vocabulary) -> Target | None:
    """The vocabulary's target for *not* ``target`` (``no vocals`` for ``vocals``), or None."""
    for prefix in NEGATED_TARGET_PREFIXES:
        found = vocabulary.by_text.get(f"{prefix} {target.text}")
        if found is not None:
            return found
    return None

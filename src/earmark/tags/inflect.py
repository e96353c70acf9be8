"""Inflection in both directions: a word's inflected forms and the stems it is a form of.

(And :func:`decade_spellings`, the forms of a decade: ``1980s``, ``eighties``, ``1985``.)

One table serves the rules and the embedding stage (:func:`inflection_table`), so a plural or a
verb form and its sibling collapse the same way whichever stage sees them:

- forward (:func:`inflections`): the target plus one of :data:`SUFFIXES` (``rock`` →
  ``rocking``, ``sad`` → ``sadness``, ``jazz`` → ``jazzy``);
- backward (:func:`stems`): the target minus one of them, when the forward rule gives the target
  back from that stem and the stem is a word (``dreamy`` ← ``dream``, ``loved`` ← ``love``,
  ``haunting`` ← ``haunt``, ``beautiful`` ← ``beauty``, ``oldies`` ← ``oldie``);
- siblings: the forms of those stems (``loved`` ← ``loving``, ``lovers``; ``haunting`` ←
  ``haunted``; ``dreamy`` ← ``dreams``).

A stem counts as a word when it has at least :data:`MIN_STEM_LETTERS` letters and is a known
word (the category word lists or a target's words; ``melancholic`` ← ``melancholy``), or when it
is bare (no spelling change), has :data:`MIN_UNKNOWN_STEM_LETTERS` letters or more and lost
only a plural, ``-ing`` or ``-y`` ending; so ``good`` is not a form of ``goo``, ``party`` not of
``part`` and ``electronic`` not of ``electron``.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from earmark.tags.vocabulary import Target, Vocabulary

__all__ = [
    "MIN_STEM_LETTERS",
    "MIN_UNKNOWN_STEM_LETTERS",
    "SUFFIXES",
    "decade_spellings",
    "fold_inflections",
    "inflection_table",
    "inflections",
    "stems",
    "word_family",
]

#: Endings of an inflected or derived word (``rocking``, ``jazzy``, ``sadness``, ``soulful``).
SUFFIXES: tuple[str, ...] = (
    "s", "es", "y", "ey", "ie", "ies", "ish", "in", "ing", "ed", "d", "er", "ers", "r", "est",
    "ful", "ness", "able", "ly", "ic",
)  # fmt: skip
#: The shortest stem a target may be a form of.
MIN_STEM_LETTERS = 3
#: A stem this long counts as a word even when no word list holds it.
MIN_UNKNOWN_STEM_LETTERS = 5
_VOWELS = "aeiou"
_AFTER_E = frozenset({"d", "r"})
#: The endings a bare stem that no word list knows may lose (plural, ``-ing``, ``-y``).
_INFLECTIONAL = frozenset({"s", "es", "y", "ing"})


def inflections(word: str) -> set[str]:
    """Inflected and derived forms of ``word``: each of :data:`SUFFIXES` added.

    The usual spelling changes apply: a final ``e`` may drop (``dancing``), ``y`` may become
    ``i`` (``happiness``), a final consonant after a short vowel may double (``hottest``);
    ``-d`` and ``-r`` follow an ``e`` only (``danced``, but ``fun`` gives no ``fund``).

    Examples
    --------
    >>> {"danceable", "danced", "dancer", "dancers", "dancing"} <= inflections("dance")
    True

    """
    bases = {word}
    if word.endswith("e"):
        bases.add(word[:-1])
    if word.endswith("y"):
        bases.add(word[:-1] + "i")
    if len(word) >= 3 and word[-1] not in "aeiouywx" and word[-2] in _VOWELS and word[-3] not in _VOWELS:
        bases.add(word + word[-1])
    forms = {
        base + suffix for base in bases for suffix in SUFFIXES if suffix not in _AFTER_E or base[-1] == "e"
    }
    return forms - {word}


def _stem_candidates(word: str, known: AbstractSet[str]) -> set[str]:
    """Stems of ``word``: a known word (spelling changes undone), or a long bare stem."""
    found: set[str] = set()
    for suffix in SUFFIXES:
        base = word[: -len(suffix)]
        if not word.endswith(suffix) or len(base) < MIN_STEM_LETTERS - 1:
            continue
        spelt = {base, base + "e", base + "y"}
        if base.endswith("i"):
            spelt.add(base[:-1] + "y")
        if len(base) >= 2 and base[-1] == base[-2] and base[-1] not in _VOWELS:
            spelt.add(base[:-1])
        found |= spelt & known
        if suffix in _INFLECTIONAL and len(base) >= MIN_UNKNOWN_STEM_LETTERS and word in inflections(base):
            found.add(base)
    return found


def stems(word: str, known: AbstractSet[str] = frozenset()) -> set[str]:
    """The words ``word`` is an inflected or derived form of (the reverse of :func:`inflections`).

    Parameters
    ----------
    word
        one normalised word.
    known
        words that count as words whatever their length (see the module's docstring).

    Examples
    --------
    >>> sorted(stems("dreamy"))
    ['dream']
    >>> sorted(stems("loved", {"love"}))
    ['love']
    >>> stems("good")
    set()

    """
    return {stem for stem in _stem_candidates(word, known) if stem != word and len(stem) >= MIN_STEM_LETTERS}


def word_family(word: str, known: AbstractSet[str] = frozenset()) -> set[str]:
    """Every form that reads as ``word``: its inflections, its stems and their inflections.

    Examples
    --------
    >>> {"loving", "love", "lovers"} <= word_family("loved", {"love"})
    True
    >>> {"dream", "dreams", "dreaming"} <= word_family("dreamy")
    True

    """
    family = inflections(word)
    for stem in stems(word, known):
        family |= {stem} | inflections(stem)
    return family - {word}


def inflection_table(vocabulary: Vocabulary, known: AbstractSet[str] = frozenset()) -> dict[str, Target]:
    """Inflected text → its target, for the family of every target's last word.

    ``indie rocks`` → ``indie rock``; ``dream`` → ``dreamy``. A text that is itself a target is
    left out, and so is a form two targets share when neither is a plain inflection of it (the
    first target in vocabulary order keeps a form otherwise).
    """
    forward: dict[str, Target] = {}
    backward: dict[str, Target] = {}
    for target in vocabulary.targets:
        head, _, last = target.text.rpartition(" ")
        for form in sorted(inflections(last)):
            forward.setdefault(f"{head} {form}" if head else form, target)
        for form in sorted(word_family(last, known) - inflections(last)):
            backward.setdefault(f"{head} {form}" if head else form, target)
    table = {**backward, **forward}
    return {text: target for text, target in table.items() if text not in vocabulary.by_text}


def fold_inflections(text: str, table: dict[str, Target]) -> str:
    """``text`` with each word that is a form of a one-word target replaced by that target.

    The embedding stage embeds this text, so it reads a form exactly as the rules do
    (``dreams of you`` and ``dreamy of you`` both embed as ``dreamy of you``).
    """
    words = text.split(" ")
    folded = [table[w].text if w in table and " " not in table[w].text else w for w in words]
    return " ".join(folded)


_DECADE_NAMES = {
    "noughties": 0, "tens": 1, "twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6,
    "seventies": 7, "eighties": 8, "nineties": 9,
}  # fmt: skip
_DECADE = re.compile(r"(19|20)?(\d)0(?:s|ies|ers?)")
_YEAR = re.compile(r"(19|20)(\d)\d")


def decade_spellings(word: str) -> tuple[str, ...]:
    """The usual spellings of the decade a word names, or () for any other word.

    ``1980s``, ``80ies``, ``80er``, ``eighties`` and the year ``1985`` all give ``80s``,
    ``1980s``. Two digits without an ending (``80``) name no decade; ``00s`` is the 2000s, other two-digit
    decades are of the 1900s.

    Examples
    --------
    >>> decade_spellings("00s")
    ('00s', '2000s')

    """
    if word in _DECADE_NAMES:
        digit = str(_DECADE_NAMES[word])
        century = "20" if digit in "01" else "19"
    elif (decade := _DECADE.fullmatch(word)) is not None:
        digit = decade.group(2)
        century = decade.group(1) or ("20" if digit == "0" else "19")
    elif (year := _YEAR.fullmatch(word)) is not None:
        century, digit = year.group(1), year.group(2)
    else:
        return ()
    return f"{digit}0s", f"{century}{digit}0s"

"""Normalising raw folksonomy tags: one canonical spelling per tag, and what was wrong with it.

:func:`normalize_text` turns a raw tag into the form every later step compares:

1. HTML entities are unescaped (twice, for ``&amp;amp;``) and markup (``<b>…</b>``) removed;
2. Unicode compatibility forms are folded (NFKC), the text is case-folded, and accents on Latin
   letters are dropped (``nü-metal`` → ``nu metal``); other scripts are kept as they are;
3. ``&`` becomes ``and``, and so do the ``n'`` forms (``rock 'n' roll``, ``rock n' roll``,
   ``rock'n'roll``, ``rock n roll`` → ``rock and roll``);
4. apostrophes are dropped (``80's`` → ``80s``), every other character that is not a letter or a
   digit becomes a space (hyphens, slashes, underscores, punctuation, emoji), and runs of
   spaces collapse to one.

:func:`normalize_tag` also records the tag's *problems*, the codes of :data:`PROBLEMS`, so a
report can say why a tag was left out; :func:`normalize_tags` adds ``duplicate`` for a raw tag
seen earlier in the same list.
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

__all__ = [
    "DEFAULT_MAX_CHARS",
    "PROBLEMS",
    "UNUSABLE",
    "NormalizedTag",
    "compact",
    "normalize_tag",
    "normalize_tags",
    "normalize_text",
    "split_compound",
]

#: Normalised tags longer than this many characters are not tags but pasted text.
DEFAULT_MAX_CHARS = 200

#: Problem codes and what they mean.
PROBLEMS: dict[str, str] = {
    "empty": "the tag is empty or blank",
    "no_letters": "the tag has no letter or digit (only punctuation, symbols or emoji)",
    "too_long": "the tag is longer than the maximum length",
    "markup": "the tag held HTML markup or entities, which were removed",
    "non_latin": "the tag holds letters of a non-Latin script",
    "duplicate": "the same raw tag appeared earlier in the list; only the first is used",
    "negated": "the tag negates a target (no X, not X, non-X, unX, Xless): it maps to a 'no X' "
    "target or nowhere, never to X; or it holds a negator, which keeps it from the embedding stage",
}

#: Problems that make a tag unusable: it is categorised as junk and never collapsed.
UNUSABLE = frozenset({"empty", "no_letters", "too_long", "duplicate"})

_MARKUP = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u00b4\u0060\u02bc\u2032]")
# the n' forms of "and", with the apostrophes already unified to "'"
_N_AND = re.compile(r"'n'|(?<![^\W\d_])n'(?![^\W\d_])|(?<![^\W\d_])'n(?![^\W\d_])")
_NOT_WORD = re.compile(r"[^\w]|_")
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class NormalizedTag:
    """A raw tag, its normalised text and its problems.

    Attributes
    ----------
    raw
        the tag as given.
    text
        the normalised text (see :func:`normalize_text`), possibly empty.
    problems
        codes of :data:`PROBLEMS`, in a fixed order.

    """

    raw: str
    text: str
    problems: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """True when no problem of :data:`UNUSABLE` applies."""
        return not self.problems or not UNUSABLE.intersection(self.problems)


def _strip_markup(text: str) -> tuple[str, bool]:
    if "&" not in text and "<" not in text:
        return text, False
    unescaped = html.unescape(html.unescape(text))
    stripped = _MARKUP.sub(" ", unescaped)
    return stripped, stripped != text


def _fold_accents(text: str) -> str:
    """Drop combining marks that sit on a Latin letter; leave other scripts untouched."""
    if text.isascii():
        return text
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char) and kept and kept[-1].isascii() and kept[-1].isalpha():
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _clean(text: str) -> str:
    text = _APOSTROPHES.sub("'", unicodedata.normalize("NFKC", text).casefold())
    text = _fold_accents(text).replace("&", " and ")
    text = _N_AND.sub(" and ", text).replace("'", "")
    words = _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip().split(" ")
    return " ".join("and" if word == "n" and len(words) > 1 else word for word in words)


def normalize_text(raw: str) -> str:
    """The normalised form of one tag (lower case, plain words separated by single spaces).

    Parameters
    ----------
    raw
        any string.

    Returns
    -------
    str, empty when nothing but punctuation, symbols, emoji or markup was there.

    Examples
    --------
    >>> normalize_text("Rock 'n' Roll")
    'rock and roll'
    >>> normalize_text("Drum &amp; Bass")
    'drum and bass'
    >>> normalize_text("80's")
    '80s'

    """
    return _clean(_strip_markup(raw)[0])


def _has_non_latin(text: str) -> bool:
    return not text.isascii() and any(
        char.isalpha() and not char.isascii() and not unicodedata.name(char, "").startswith("LATIN")
        for char in text
    )


def normalize_tag(raw: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> NormalizedTag:
    """Normalise one raw tag and record its problems.

    Parameters
    ----------
    raw
        the tag as given.
    max_chars
        a normalised text longer than this many characters is flagged ``too_long`` and its
        text is cut to ``max_chars`` (the tag stays unusable).

    Returns
    -------
    :class:`NormalizedTag`.

    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    unmarked, had_markup = _strip_markup(raw)
    text = _clean(unmarked)
    problems: list[str] = []
    if not raw.strip():
        problems.append("empty")
    elif not text:
        problems.append("no_letters")
    if len(text) > max_chars:
        problems.append("too_long")
        text = text[:max_chars].rsplit(" ", 1)[0] if " " in text[:max_chars] else text[:max_chars]
    if had_markup:
        problems.append("markup")
    if _has_non_latin(text):
        problems.append("non_latin")
    return NormalizedTag(raw=raw, text=text, problems=tuple(problems))


def normalize_tags(raws: Iterable[str], *, max_chars: int = DEFAULT_MAX_CHARS) -> list[NormalizedTag]:
    """Normalise a list of raw tags; a raw tag seen before is flagged ``duplicate``.

    Parameters
    ----------
    raws
        the tags, in order.
    max_chars
        see :func:`normalize_tag`.

    Returns
    -------
    list of :class:`NormalizedTag`, one per input, in input order.

    """
    seen: set[str] = set()
    out: list[NormalizedTag] = []
    for raw in raws:
        tag = normalize_tag(raw, max_chars=max_chars)
        if raw in seen:
            tag = dataclasses.replace(tag, problems=(*tag.problems, "duplicate"))
        seen.add(raw)
        out.append(tag)
    return out


def compact(text: str) -> str:
    """``text`` without its spaces, for space-insensitive comparison (``hip hop`` → ``hiphop``)."""
    return text.replace(" ", "")


def split_compound(word: str, known: AbstractSet[str], *, min_letters: int = 3) -> tuple[str, str] | None:
    """Split a glued word into two known words (``punkrock`` → ``punk``, ``rock``).

    Parameters
    ----------
    word
        one normalised word, without spaces.
    known
        the words a piece may be.
    min_letters
        the shortest piece allowed (so ``rocket`` does not split into ``rock`` + ``et``).

    Returns
    -------
    the two pieces, the longest known first piece winning, or None when no split exists or
    ``word`` is itself known.

    """
    if word in known:
        return None
    for cut in range(len(word) - min_letters, min_letters - 1, -1):
        head, tail = word[:cut], word[cut:]
        if head in known and tail in known:
            return head, tail
    return None

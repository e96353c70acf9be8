"""Stage II: collapsing tags onto the target vocabulary by string rules.

Every tag is normalised (:mod:`earmark.tags.normalize`), then the first rule that applies
decides its target:

1. ``exact``: the normalised tag is a target (``Hip-Hop`` → ``hip hop``);
2. ``space-insensitive``: equal once spaces are removed (``hiphop`` → ``hip hop``);
3. a target *inside* the tag, found by one of four rules:

   - ``containment``: a run of the tag's words is a target (``80s metal`` → ``metal``), also
     space-insensitively (``hiphop music`` → ``hip hop``) and after splitting a glued word into
     two known words (``punkrock`` → ``rock``);
   - ``decade``: a word names the decade of a target (``1980s``, ``80ies``, ``eighties``, the
     year ``1985`` → ``80s``; ``00s`` → ``2000s``; see :func:`decade_spellings`);
   - ``inflection``: a word is an inflected or derived form of a target, the target plus one of
     :data:`SUFFIXES` (``rockin all over the world`` → ``rock``, ``jazzy`` → ``jazz``,
     ``sadness`` → ``sad``; never ``rocket`` or ``hotel``);
   - ``compound``: a glued word ends with a one-word target of four letters or more, after at
     least two other letters (``numetal`` → ``metal``, ``supersexy`` → ``sexy``; not
     ``unhappy``).

   When several targets are found, the longest wins, in words (``british rock metal`` →
   ``rock metal`` when that is a target), then the target category earliest in ``priority``
   (genre first: ``80s metal`` → ``metal``, ``funny french punks`` → ``punk``), then the rule
   earliest in that list, then the last one in the tag (the head of an English noun phrase:
   ``indie pop`` → ``pop``). A target preceded by a negation (``not``, ``no``, ``non``,
   ``anti``…) does not count (``non metal``, ``never cool``);
4. ``jaro-winkler``: the whole tag is within Jaro-Winkler ``score_level`` of a target, or one
   of its words (of five letters or more) is of a one-word target with the same first letter,
   and the two differ in length by at most :data:`MAX_LENGTH_CHANGE` characters (a typo:
   ``singer songwritter`` → ``singer-songwriter``, ``nu metall`` → ``metal``; but
   ``alternatve rock`` contains ``rock``, and containment comes first). A correctly spelt
   word of the word lists is never a typo (``funky`` is not ``funny``), and neither is a longer
   word that merely starts like a target (``hotel``, ``goodbye``), which Jaro-Winkler's prefix
   bonus would otherwise accept.

Whole words only: ``rocket in my pants`` and ``lollipop`` contain no target, unlike a substring
search.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from earmark.tags.categorize import DEFAULT_PRIORITY, WordLists, load_wordlists
from earmark.tags.normalize import NormalizedTag, compact, normalize_tag, split_compound
from earmark.tags.typos import DEFAULT_SCORE_LEVEL, check_score_level, closest
from earmark.tags.vocabulary import Target, Vocabulary

__all__ = [
    "MAX_LENGTH_CHANGE",
    "NEGATIONS",
    "RULES",
    "SUFFIXES",
    "Match",
    "collapse_by_rules",
    "inflections",
    "match_rules",
]

RULES: tuple[str, ...] = (
    "exact",
    "space-insensitive",
    "containment",
    "inflection",
    "compound",
    "jaro-winkler",
)
#: The rules that find a target inside a tag, in the order that breaks their ties.
_INSIDE = ("containment", "decade", "inflection", "compound")
#: A typo changes a word's length by at most this many characters (``hotel`` is no typo of ``hot``).
MAX_LENGTH_CHANGE = 1
#: Endings of an inflected or derived word (``rocking``, ``jazzy``, ``sadness``, ``soulful``).
SUFFIXES: tuple[str, ...] = (
    "s", "es", "y", "ey", "ie", "ies", "ish", "in", "ing", "ed", "d", "er", "ers", "r", "est",
    "ful", "ness", "able", "ly", "ic",
)  # fmt: skip
NEGATIONS = frozenset(
    {"not", "no", "non", "anti", "un", "never", "without", "nothing", "isnt", "aint", "dont"}
)


@dataclasses.dataclass(frozen=True)
class Match:
    """The target a stage chose for a tag.

    Attributes
    ----------
    target
        the chosen :class:`~earmark.tags.vocabulary.Target`.
    rule
        one of :data:`RULES`, or ``percentile`` (stage III), or ``override``.
    score
        1.0, the Jaro-Winkler similarity for ``jaro-winkler``, the cosine similarity for
        ``percentile``.
    detail
        what matched, in words.

    """

    target: Target
    rule: str
    score: float = 1.0
    detail: str = ""


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


def inflections(word: str) -> set[str]:
    """Inflected and derived forms of ``word``: each of :data:`SUFFIXES` added.

    The usual spelling changes apply: a final ``e`` may drop (``dancing``), ``y`` may become
    ``i`` (``happiness``), a final consonant after a short vowel may double (``hottest``).

    Examples
    --------
    >>> sorted(inflections("dance"))[:4]
    ['danceable', 'danced', 'dancer', 'dancers']

    """
    stems = {word}
    if word.endswith("e"):
        stems.add(word[:-1])
    if word.endswith("y"):
        stems.add(word[:-1] + "i")
    if len(word) >= 3 and word[-1] not in "aeiouywx" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        stems.add(word + word[-1])
    return {stem + suffix for stem in stems for suffix in SUFFIXES} - {word}


class _Rules:
    """The rules over one vocabulary and one set of known words."""

    def __init__(
        self, vocabulary: Vocabulary, lists: WordLists, score_level: float, priority: Sequence[str]
    ) -> None:
        target_words = {w for t in vocabulary.targets for w in t.text.split(" ")}
        self.vocabulary = vocabulary
        self.known: AbstractSet[str] = lists.known_words | target_words
        self.typo_safe: AbstractSet[str] = frozenset(lists.single_words(min_letters=1)) | target_words
        self.forms = _forms(vocabulary)
        self.score_level = score_level
        self.priority = list(priority)
        self.max_words = max(t.words for t in vocabulary.targets)
        self.texts = [t.text for t in vocabulary.targets]
        self.single = sorted((t.text for t in vocabulary.targets if t.words == 1), key=len, reverse=True)
        self.heads = {t for t in self.single if len(t) >= 4}  # the ends of glued words
        self.head_lengths = sorted({len(t) for t in self.heads}, reverse=True)

    def __call__(self, tag: NormalizedTag) -> Match | None:
        if not tag.usable:
            return None
        text = tag.text
        if text in self.vocabulary.by_text:
            return Match(self.vocabulary.by_text[text], "exact", 1.0, f"is {text!r}")
        if compact(text) in self.vocabulary.by_compact:
            target = self.vocabulary.by_compact[compact(text)]
            return Match(target, "space-insensitive", 1.0, f"{text!r} without spaces")
        words, splits = self._words(text)
        contained = self._containment(words, splits)
        return contained if contained is not None else self._jaro_winkler(text)

    def _words(self, text: str) -> tuple[list[str], list[str]]:
        words: list[str] = []
        splits: list[str] = []
        for word in text.split(" "):
            pieces = split_compound(word, self.known)
            if pieces is not None:
                splits.append(f"{word!r} → {' '.join(pieces)!r}")
            words.extend(pieces or (word,))
        return words, splits

    def _lookup(self, span: str, rule: str) -> tuple[Target, str] | None:
        if rule == "containment":
            target = self.vocabulary.by_text.get(span) or self.vocabulary.by_compact.get(compact(span))
            return None if target is None else (target, f"contains {span!r}")
        if rule == "inflection":
            target = self.forms.get(span)
            return None if target is None else (target, f"contains {span!r}, a form of {target.text!r}")
        if " " in span:
            return None
        if rule == "decade":
            found = [
                self.vocabulary.by_text[d] for d in decade_spellings(span) if d in self.vocabulary.by_text
            ]
            return (found[0], f"{span!r} is in the decade {found[0].text!r}") if found else None
        for length in self.head_lengths:
            head, prefix = span[-length:], span[:-length]
            if head in self.heads and len(prefix) >= 2 and prefix not in NEGATIONS:
                return self.vocabulary.by_text[head], f"{span!r} ends with {head!r}"
        return None

    def _containment(self, words: Sequence[str], splits: Sequence[str]) -> Match | None:
        """The best target found by the containment-like rules (3 to 6) together."""
        best: tuple[tuple[int, int, int, int], Target, str, str] | None = None
        for size in range(1, min(self.max_words, len(words)) + 1):
            for start in range(len(words) - size + 1):
                if start > 0 and words[start - 1] in NEGATIONS:
                    continue
                span = " ".join(words[start : start + size])
                for order, rule in enumerate(_INSIDE):
                    found = self._lookup(span, rule)
                    if found is not None:
                        rank = (found[0].words, -self._order(found[0]), -order, start)
                        if best is None or rank > best[0]:
                            best = (rank, found[0], found[1], rule)
                        break
        if best is None:
            return None
        detail = best[2] + (f" (split {', '.join(splits)})" if splits else "")
        return Match(best[1], best[3], 1.0, detail)

    def _order(self, target: Target) -> int:
        category = target.category
        return self.priority.index(category) if category in self.priority else len(self.priority)

    def _jaro_winkler(self, text: str) -> Match | None:
        words = text.split(" ")
        queries = [(text, self.texts)] if not all(w in self.typo_safe for w in words) else []
        if len(words) > 1:
            queries += [
                (w, [t for t in self.single if t[0] == w[0]])
                for w in words
                if len(w) >= 5 and w not in self.typo_safe
            ]
        best: tuple[str, str, float] | None = None
        for query, texts in queries:
            choices = [t for t in texts if abs(len(t) - len(query)) <= MAX_LENGTH_CHANGE]
            hit = closest(query, choices, score_level=self.score_level)
            if hit is not None and (best is None or hit[1] > best[2]):
                best = (query, *hit)
        if best is None:
            return None
        query, target, score = best
        detail = f"{query!r} is within Jaro-Winkler {self.score_level:g} of {target!r}"
        return Match(self.vocabulary.by_text[target], "jaro-winkler", score, detail)


def _forms(vocabulary: Vocabulary) -> dict[str, Target]:
    """Inflected text → its target, for every target's last word (``indie rocks``)."""
    forms: dict[str, Target] = {}
    for target in vocabulary.targets:
        head, _, last = target.text.rpartition(" ")
        for form in sorted(inflections(last)):
            text = f"{head} {form}" if head else form
            if text not in vocabulary.by_text:
                forms.setdefault(text, target)
    return forms


def collapse_by_rules(
    tags: Sequence[NormalizedTag],
    vocabulary: Vocabulary,
    *,
    score_level: float = DEFAULT_SCORE_LEVEL,
    wordlists: WordLists | None = None,
    priority: Sequence[str] = DEFAULT_PRIORITY,
) -> list[Match | None]:
    """Apply the stage II rules to every tag.

    Parameters
    ----------
    tags
        normalised tags (:func:`~earmark.tags.normalize.normalize_tags`); unusable ones get None.
    vocabulary
        the targets.
    score_level
        inclusive Jaro-Winkler threshold of the ``jaro-winkler`` rule, in (0, 1].
    wordlists
        the category word lists, whose words a glued word may split into and which are never
        typos; None loads the shipped ones.
    priority
        category order that breaks ties between contained targets of equal length.

    Returns
    -------
    list of :class:`Match` or None (no rule applies), one per tag, in order.

    """
    lists = wordlists if wordlists is not None else load_wordlists()
    rules = _Rules(vocabulary, lists, check_score_level(score_level), priority)
    return [rules(tag) for tag in tags]


def match_rules(
    tag: str | NormalizedTag,
    vocabulary: Vocabulary,
    *,
    score_level: float = DEFAULT_SCORE_LEVEL,
    wordlists: WordLists | None = None,
) -> Match | None:
    """Apply the stage II rules to one tag (see :func:`collapse_by_rules`).

    Examples
    --------
    >>> from earmark.tags.vocabulary import build_vocabulary
    >>> targets = build_vocabulary([("rock", "genre"), ("metal", "genre"), ("rock metal", "genre")])
    >>> match_rules("british rock metal", targets).target.name
    'rock metal'

    """
    normalized = tag if isinstance(tag, NormalizedTag) else normalize_tag(tag)
    return collapse_by_rules([normalized], vocabulary, score_level=score_level, wordlists=wordlists)[0]

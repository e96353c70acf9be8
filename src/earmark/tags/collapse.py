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
   - ``inflection``: a word is an inflected or derived form of a target in either direction
     (:mod:`earmark.tags.inflect`: ``rockin all over the world`` → ``rock``, ``sadness`` →
     ``sad``, and ``dream`` → ``dreamy``, ``loving`` → ``loved``; never ``rocket`` or ``hotel``);
   - ``compound``: a glued word ends with a one-word target of four letters or more, after at
     least two other letters (``numetal`` → ``metal``, ``supersexy`` → ``sexy``; not
     ``unhappy``).

   - ``lexicon`` (optional): a run of words is a style of an optional lexicon, which names its
     parent genres (``grunge`` → ``alternative rock``; :mod:`earmark.tags.lexicon`).

   When several targets are found, the longest wins, in words (``british rock metal`` →
   ``rock metal`` when that is a target), then a target not found through one of its stems
   (``love acoustic sound`` → ``acoustic``, not ``loved``), then the target category earliest in ``priority``
   (genre first: ``80s metal`` → ``metal``, ``funny french punks`` → ``punk``), then the rule
   earliest in that list, then the last one in the tag (the head of an English noun phrase:
   ``indie pop`` → ``pop``); with ``multi`` every target found on words not used by a better
   one counts (``punk rock`` → punk, rock). A *negated* target (``not metal``, ``kein indie``,
   ``unhappy``, ``soulless``; :mod:`earmark.tags.negation`) never counts as itself: it becomes
   the vocabulary's ``no X`` / ``without X`` target when there is one (rule ``negation``), and a
   tag that negates its only targets goes nowhere (:data:`NO_TARGET`), flagged;
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
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

from earmark.tags.categorize import DEFAULT_PRIORITY, WordLists, load_wordlists
from earmark.tags.inflect import SUFFIXES, decade_spellings, inflection_table, inflections
from earmark.tags.lexicon import lexicon_targets
from earmark.tags.match import NO_TARGET, Match
from earmark.tags.negation import NEGATORS, negated_target, negated_word, negation_before
from earmark.tags.normalize import NormalizedTag, compact, normalize_tag, split_compound
from earmark.tags.typos import DEFAULT_SCORE_LEVEL, check_score_level, closest
from earmark.tags.vocabulary import Target, Vocabulary

__all__ = [
    "MAX_LENGTH_CHANGE",
    "NEGATIONS",
    "NO_TARGET",
    "RULES",
    "SUFFIXES",
    "Match",
    "collapse_by_rules",
    "decade_spellings",
    "inflections",
    "match_rules",
    "rule_matches",
]

RULES: tuple[str, ...] = (
    "exact",
    "space-insensitive",
    "containment",
    "decade",
    "inflection",
    "compound",
    "lexicon",
    "negation",
    "jaro-winkler",
)
#: The rules that find a target inside a tag, in the order that breaks their ties.
_INSIDE = ("containment", "decade", "inflection", "compound", "lexicon")
#: A typo changes a word's length by at most this many characters (``hotel`` is no typo of ``hot``).
MAX_LENGTH_CHANGE = 1
#: Words that negate the target after them (see :mod:`earmark.tags.negation`).
NEGATIONS = NEGATORS


@dataclasses.dataclass(frozen=True)
class _Found:
    rank: tuple[int, int, int, int, int]
    target: Target
    detail: str
    rule: str
    start: int
    stop: int


class _Rules:
    """The rules over one vocabulary and one set of known words."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        lists: WordLists,
        score_level: float,
        priority: Sequence[str],
        lexicon: Mapping[str, Sequence[str]] | None,
    ) -> None:
        target_words = {w for t in vocabulary.targets for w in t.text.split(" ")}
        self.vocabulary = vocabulary
        self.known: AbstractSet[str] = lists.known_words | target_words
        self.typo_safe: AbstractSet[str] = frozenset(lists.single_words(min_letters=1)) | target_words
        self.forms = inflection_table(vocabulary, self.known)
        self.lexicon = lexicon_targets(lexicon or {}, vocabulary)
        self.score_level = score_level
        self.priority = list(priority)
        # forms only a stem of a target gives (love → loved): they yield to any other target
        self.stem_forms = frozenset(self.forms) - {
            f"{t.text.rpartition(' ')[0]} {form}".strip()
            for t in vocabulary.targets
            for form in inflections(t.text.rpartition(" ")[2])
        }
        self.hits: dict[str, tuple[int, str, tuple[Target, str]] | None] = {}
        # per word, memoised (tags share most of their words): its split, the target it negates
        self.splits: dict[str, tuple[str, str] | None] = {}
        self.glued: dict[str, tuple[Target, str] | None] = {}
        self.typos: dict[tuple[str, str], tuple[str, float] | None] = {}
        self.span_keys = frozenset(vocabulary.by_text) | frozenset(self.forms) | frozenset(self.lexicon)
        self.max_words = max([t.words for t in vocabulary.targets] + [s.count(" ") + 1 for s in self.lexicon])
        self.texts = [t.text for t in vocabulary.targets]
        self.single = sorted((t.text for t in vocabulary.targets if t.words == 1), key=len, reverse=True)
        self.heads = {t for t in self.single if len(t) >= 4}  # the ends of glued words
        self.head_lengths = sorted({len(t) for t in self.heads}, reverse=True)

    def __call__(self, tag: NormalizedTag, multi: bool = False) -> tuple[Match, ...]:
        if not tag.usable:
            return ()
        text = tag.text
        if text in self.vocabulary.by_text:
            return (Match(self.vocabulary.by_text[text], "exact", 1.0, f"is {text!r}"),)
        if compact(text) in self.vocabulary.by_compact:
            target = self.vocabulary.by_compact[compact(text)]
            return (Match(target, "space-insensitive", 1.0, f"{text!r} without spaces"),)
        words, splits = self._words(text)
        found, negated = self._inside(words)
        names = tuple(dict.fromkeys(target.text for target, _ in negated))
        if found:
            chosen = _choose(found, multi)
            note = f" (split {', '.join(splits)})" if splits else ""
            return tuple(Match(f.target, f.rule, 1.0, f.detail + note, names) for f in chosen)
        if negated:
            detail = "; ".join(f"negates {t.text!r} ({how}); no 'no {t.text}' target" for t, how in negated)
            return (Match(NO_TARGET, "negation", 1.0, detail, names),)
        typo = self._jaro_winkler(text)
        return () if typo is None else (typo,)

    def _words(self, text: str) -> tuple[list[str], list[str]]:
        words: list[str] = []
        splits: list[str] = []
        for word in text.split(" "):
            if word not in self.splits:
                self.splits[word] = split_compound(word, self.known)
            pieces = self.splits[word]
            if pieces is not None:
                splits.append(f"{word!r} → {' '.join(pieces)!r}")
            words.extend(pieces or (word,))
        return words, splits

    def _word_target(self, word: str) -> Target | None:
        return self.vocabulary.by_text.get(word) or self.forms.get(word)

    def _lookup(self, span: str, rule: str) -> tuple[Target, str] | None:
        if rule == "containment":
            target = self.vocabulary.by_text.get(span) or self.vocabulary.by_compact.get(compact(span))
            return None if target is None else (target, f"contains {span!r}")
        if rule == "inflection":
            target = self.forms.get(span)
            return None if target is None else (target, f"contains {span!r}, a form of {target.text!r}")
        if rule == "lexicon":
            parents = self.lexicon.get(span)
            return None if not parents else (parents[0], f"{span!r} is a style of {parents[0].text!r}")
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

    def _first_hit(self, span: str) -> tuple[int, str, tuple[Target, str]] | None:
        """The first inside rule a span meets, with its target and detail (memoised per span)."""
        if span not in self.hits:
            self.hits[span] = next(
                (
                    (order, rule, hit)
                    for order, rule in enumerate(_INSIDE)
                    if (hit := self._lookup(span, rule))
                ),
                None,
            )
        return self.hits[span]

    def _inside(self, words: Sequence[str]) -> tuple[list[_Found], list[tuple[Target, str]]]:
        """Targets found by the containment-like rules, and the targets the tag negates."""
        found: list[_Found] = []
        negated: list[tuple[Target, str]] = []
        for word in words:
            if word not in self.glued:
                self.glued[word] = negated_word(word, self._word_target)
        glued_at = [self.glued[word] for word in words]
        for start, glued in enumerate(glued_at):
            if glued is not None:
                negated.append(glued)
                self._negation(found, glued[0], f"{words[start]!r} ({glued[1]})", start, start + 1)
        any_glued = bool(negated)
        for size in range(1, min(self.max_words, len(words)) + 1):
            for start in range(len(words) - size + 1):
                if any_glued and any(g is not None for g in glued_at[start : start + size]):
                    continue
                span = " ".join(words[start : start + size])
                if (
                    size > 1
                    and span not in self.span_keys
                    and compact(span) not in self.vocabulary.by_compact
                ):
                    continue  # a quick test: only these rules apply to several words
                first = self._first_hit(span)
                if first is None:
                    continue
                order, rule, (target, detail) = first
                negator = negation_before(words, start)
                if negator is not None:
                    negated.append((target, f"{negator!r} before {span!r}"))
                    self._negation(found, target, f"{negator!r} before {span!r}", start - 1, start + size)
                elif rule == "lexicon":
                    self._lexicon(found, span, start, size, order)
                else:
                    plain = int(rule != "inflection" or span not in self.stem_forms)
                    rank = (target.words, plain, -self._order(target), -order, start)
                    found.append(_Found(rank, target, detail, rule, start, start + size))
        return found, negated

    def _lexicon(self, found: list[_Found], span: str, start: int, size: int, order: int) -> None:
        for parent in self.lexicon[span]:
            rank = (parent.words, 1, -self._order(parent), -order, start)
            detail = f"{span!r} is a style of {parent.text!r}"
            found.append(_Found(rank, parent, detail, "lexicon", start, start + size))

    def _negation(self, found: list[_Found], target: Target, how: str, start: int, stop: int) -> None:
        opposite = negated_target(target, self.vocabulary)
        if opposite is not None:
            rank = (opposite.words, 1, -self._order(opposite), 0, start)
            found.append(
                _Found(rank, opposite, f"{how}: the opposite of {target.text!r}", "negation", start, stop)
            )

    def _order(self, target: Target) -> int:
        category = target.category
        return self.priority.index(category) if category in self.priority else len(self.priority)

    def _jaro_winkler(self, text: str) -> Match | None:
        words = text.split(" ")
        # (query, "") compares with every target; (word, its first letter) with one-word targets
        queries = [(text, "")] if not all(w in self.typo_safe for w in words) else []
        if len(words) > 1:
            queries += [(w, w[0]) for w in words if len(w) >= 5 and w not in self.typo_safe]
        best: tuple[str, str, float] | None = None
        for query, initial in queries:
            if (query, initial) not in self.typos:  # memoised: a misspelt word recurs in many tags
                texts = [t for t in self.single if t[0] == initial] if initial else self.texts
                choices = [t for t in texts if abs(len(t) - len(query)) <= MAX_LENGTH_CHANGE]
                self.typos[query, initial] = closest(query, choices, score_level=self.score_level)
            hit = self.typos[query, initial]
            if hit is not None and (best is None or hit[1] > best[2]):
                best = (query, *hit)
        if best is None:
            return None
        query, target, score = best
        detail = f"{query!r} is within Jaro-Winkler {self.score_level:g} of {target!r}"
        return Match(self.vocabulary.by_text[target], "jaro-winkler", score, detail)


def _choose(found: Sequence[_Found], multi: bool) -> list[_Found]:
    """The best find; with ``multi``, every target found on words no better find used, in tag order."""
    ranked = sorted(found, key=lambda f: f.rank, reverse=True)
    if not multi:
        return ranked[:1]
    chosen: list[_Found] = []
    used: set[int] = set()
    for find in ranked:
        span = set(range(find.start, find.stop))
        if find.target in {c.target for c in chosen}:
            continue
        if used & span and not (find.rule == "lexicon" and any(c.rule == "lexicon" for c in chosen)):
            continue
        chosen.append(find)
        used |= span
    return sorted(chosen, key=lambda f: f.start)


def rule_matches(
    tags: Sequence[NormalizedTag],
    vocabulary: Vocabulary,
    *,
    score_level: float = DEFAULT_SCORE_LEVEL,
    wordlists: WordLists | None = None,
    priority: Sequence[str] = DEFAULT_PRIORITY,
    multi: bool = False,
    lexicon: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[Match, ...]]:
    """Apply the stage II rules to every tag, keeping negations and (with ``multi``) every target.

    Parameters
    ----------
    tags, vocabulary, score_level, wordlists, priority
        see :func:`collapse_by_rules`.
    multi
        False: the one best target (the longest, then by category ``priority``, rule and
        position). True: every target found on words a better one did not use
        (``punk rock`` → punk and rock; ``alternative rock`` → alternative rock only); the
        parents of a lexicon style all count (``house`` → electronic, dance).
    lexicon
        style → parent target names (:func:`~earmark.tags.lexicon.read_lexicon`); None for no
        ``lexicon`` rule.

    Returns
    -------
    per tag, a tuple of :class:`Match` in tag order: empty when no rule applies; one match with
    :data:`NO_TARGET` (rule ``negation``) when the tag only negates targets the vocabulary has
    no opposite for.

    """
    lists = wordlists if wordlists is not None else load_wordlists()
    rules = _Rules(vocabulary, lists, check_score_level(score_level), priority, lexicon)
    return [rules(tag, multi) for tag in tags]


def collapse_by_rules(
    tags: Sequence[NormalizedTag],
    vocabulary: Vocabulary,
    *,
    score_level: float = DEFAULT_SCORE_LEVEL,
    wordlists: WordLists | None = None,
    priority: Sequence[str] = DEFAULT_PRIORITY,
    lexicon: Mapping[str, Sequence[str]] | None = None,
) -> list[Match | None]:
    """Apply the stage II rules to every tag: its one target, or None.

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
    lexicon
        style → parent targets for the ``lexicon`` rule (None: no such rule).

    Returns
    -------
    list of :class:`Match` or None (no rule applies, or the tag negates its only target), one
    per tag, in order. :func:`rule_matches` also tells negations and several targets.

    """
    found = rule_matches(
        tags, vocabulary, score_level=score_level, wordlists=wordlists, priority=priority, lexicon=lexicon
    )
    return [matches[0] if matches and matches[0].target.name else None for matches in found]


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

"""The tag → target mapping: one auditable row per raw tag, and the function that makes it.

:func:`collapse_tags` runs the stages in order (overrides, stage II rules, stage III embeddings)
and records for every distinct raw tag the target, the stage and rule that decided it, its score,
what matched, and the tag's own category and problems. :class:`TagMapping` holds those rows and
reads and writes them as CSV (:data:`COLUMNS`), so a mapping can be reviewed, overridden and fed
to :func:`~earmark.tags.to_labels.tags_to_labels`. The CSV's text cells are spreadsheet-safe
(:func:`~earmark.io.escape_cell`) and read back unchanged; ``score`` is a plain number.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from earmark.io import CsvWriter, atomic_open, escape_cells, unescape_cell
from earmark.tags.categorize import DEFAULT_PRIORITY, WordLists, categorize_tags, load_wordlists
from earmark.tags.collapse import Match, rule_matches
from earmark.tags.embed import (
    DEFAULT_PERCENTILE,
    EmbeddingBackend,
    check_percentile,
    embedding_matches,
)
from earmark.tags.inflect import inflection_table
from earmark.tags.negation import has_negator
from earmark.tags.normalize import DEFAULT_MAX_CHARS, NormalizedTag, normalize_tag, normalize_tags
from earmark.tags.options import CollapseOptions
from earmark.tags.typos import DEFAULT_SCORE_LEVEL, check_score_level
from earmark.tags.vocabulary import Target, Vocabulary

__all__ = ["COLUMNS", "METHODS", "STAGES", "CollapseOptions", "MappingRow", "TagMapping", "collapse_tags"]

METHODS: tuple[str, ...] = ("rules", "embedding", "both")
STAGES: tuple[str, ...] = ("override", "rules", "embedding", "none")
COLUMNS: tuple[str, ...] = (
    "tag", "normalized", "tag_category", "target", "target_category", "stage", "rule", "score",
    "detail", "problems",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class MappingRow:
    """How one raw tag was collapsed.

    Attributes
    ----------
    tag
        the raw tag.
    normalized
        its normalised text.
    tag_category
        the tag's own category (:mod:`earmark.tags.categorize`).
    target
        the target name, "" when the tag collapses nowhere.
    target_category
        the target's category ("" without a target).
    stage
        one of :data:`STAGES`.
    rule
        the rule of that stage (``exact``, …, ``percentile``, ``override``) or, for stage
        ``none``, why (``no match``, or ``problem``).
    score
        the rule's score in [0, 1] (None without a target).
    detail
        what matched, in words.
    problems
        problem codes of the raw tag (:data:`~earmark.tags.normalize.PROBLEMS`).

    """

    tag: str
    normalized: str
    tag_category: str
    target: str
    target_category: str
    stage: str
    rule: str
    score: float | None
    detail: str = ""
    problems: tuple[str, ...] = ()

    def as_cells(self) -> list[str]:
        """The CSV cells, in :data:`COLUMNS` order: text spreadsheet-safe, the score a plain number."""
        score = "" if self.score is None else f"{self.score:.4f}"
        tag, normalized, tag_category, target, target_category, stage, rule = escape_cells(
            [
                self.tag,
                self.normalized,
                self.tag_category,
                self.target,
                self.target_category,
                self.stage,
                self.rule,
            ]
        )
        detail, problems = escape_cells([self.detail, ";".join(self.problems)])
        return [
            tag, normalized, tag_category, target, target_category, stage, rule, score, detail, problems,
        ]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TagMapping:
    """The rows of a mapping, the targets when known, and the warnings of its making."""

    rows: tuple[MappingRow, ...]
    targets: tuple[Target, ...] = ()
    warnings: tuple[str, ...] = ()

    @functools.cached_property
    def by_tag(self) -> dict[str, MappingRow]:
        """Raw tag → its first row."""
        found: dict[str, MappingRow] = {}
        for row in self.rows:
            found.setdefault(row.tag, row)
        return found

    @functools.cached_property
    def all_by_tag(self) -> dict[str, tuple[MappingRow, ...]]:
        """Raw tag → all its rows (several with ``--multi``: one per target)."""
        found: dict[str, list[MappingRow]] = {}
        for row in self.rows:
            found.setdefault(row.tag, []).append(row)
        return {tag: tuple(rows) for tag, rows in found.items()}

    @functools.cached_property
    def by_normalized(self) -> dict[str, MappingRow]:
        """Normalised text → the first row of that text that has a target (else the first)."""
        found: dict[str, MappingRow] = {}
        for row in self.rows:
            if row.normalized not in found or (row.target and not found[row.normalized].target):
                found[row.normalized] = row
        return found

    @property
    def num_tags(self) -> int:
        """Distinct raw tags (rows, less the extra rows of tags with several targets)."""
        return len(self.all_by_tag)

    @property
    def target_names(self) -> tuple[str, ...]:
        """The targets: the vocabulary's when known, else those the rows name, sorted."""
        if self.targets:
            return tuple(t.name for t in self.targets)
        return tuple(sorted({row.target for row in self.rows if row.target}))

    def categories(self) -> dict[str, str]:
        """Target → category: the class groups of per-category metrics."""
        if self.targets:
            return {t.name: t.category for t in self.targets}
        return {row.target: row.target_category for row in self.rows if row.target}

    def row_of(self, tag: str) -> MappingRow | None:
        """The (first) row of a raw tag, found as given or by its normalised text."""
        return self.by_tag.get(tag) or self.by_normalized.get(normalize_tag(tag).text)

    def rows_of(self, tag: str) -> tuple[MappingRow, ...]:
        """Every row of a raw tag (one per target), found as given or by its normalised text."""
        found = self.all_by_tag.get(tag)
        if found is None:
            first = self.by_normalized.get(normalize_tag(tag).text)
            found = () if first is None else self.all_by_tag[first.tag]
        return found

    def write_csv(self, path: str | Path) -> Path:
        """Write the rows to ``path`` (CSV with :data:`COLUMNS`), atomically."""
        path = Path(path)
        with atomic_open(path, "w", newline="") as handle:
            writer = CsvWriter(handle)
            writer.writerow(COLUMNS)
            writer.writerows(row.as_cells() for row in self.rows)
        return path

    @classmethod
    def read_csv(cls, path: str | Path) -> TagMapping:
        """Read a mapping written by :meth:`write_csv`; a malformed file raises naming the line.

        Text cells are unescaped (:func:`~earmark.io.unescape_cell`); a byte-order mark is accepted.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"mapping not found: {path}")
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header[: len(COLUMNS)]) != COLUMNS:
                raise ValueError(f"{path}: not a tag mapping; its header must be {','.join(COLUMNS)}")
            rows = [_parse_row(cells, path, line) for line, cells in enumerate(reader, start=2) if cells]
        return cls(tuple(rows))


def _parse_row(cells: list[str], path: Path, line: int) -> MappingRow:
    if len(cells) < len(COLUMNS):
        raise ValueError(f"{path}, line {line}: {len(cells)} cells, a mapping row has {len(COLUMNS)}")
    values = {
        column: cell if column == "score" else unescape_cell(cell)
        for column, cell in zip(COLUMNS, cells, strict=False)
    }
    if values["stage"] not in STAGES:
        raise ValueError(
            f"{path}, line {line}: unknown stage {values['stage']!r} (valid: {', '.join(STAGES)})"
        )
    try:
        score = float(values["score"]) if values["score"] else None
    except ValueError:
        raise ValueError(f"{path}, line {line}: score {values['score']!r} is not a number") from None
    if score is not None and not math.isfinite(score):
        raise ValueError(f"{path}, line {line}: score {values['score']!r} is not finite")
    if values["target"] and values["stage"] == "none":
        raise ValueError(f"{path}, line {line}: stage 'none' with target {values['target']!r}")
    return MappingRow(
        tag=values["tag"],
        normalized=values["normalized"],
        tag_category=values["tag_category"],
        target=values["target"],
        target_category=values["target_category"],
        stage=values["stage"],
        rule=values["rule"],
        score=score,
        detail=values["detail"],
        problems=tuple(p for p in values["problems"].split(";") if p),
    )


_NO_TARGET = Match(Target("", "", ""), "override", 1.0, "set to no target by the overrides file")


def _resolve_overrides(overrides: Mapping[str, str | None], vocabulary: Vocabulary) -> dict[str, Match]:
    """Normalised tag → forced match (an empty target for none); an unknown target raises."""
    resolved: dict[str, Match] = {}
    for tag, name in overrides.items():
        text = normalize_tag(tag).text
        if not name:
            resolved[text] = _NO_TARGET
            continue
        target = vocabulary.find(name)
        if target is None:
            raise ValueError(
                f"the override of tag {tag!r} names {name!r}, which is not a target "
                f"(targets: {', '.join(vocabulary.names[:10])}{', …' if len(vocabulary.names) > 10 else ''})"
            )
        resolved[text] = Match(target, "override", 1.0, "set by the overrides file")
    return resolved


def collapse_tags(
    tags: Sequence[str],
    vocabulary: Vocabulary,
    *,
    method: str = "both",
    score_level: float = DEFAULT_SCORE_LEVEL,
    percentile: float = DEFAULT_PERCENTILE,
    overrides: Mapping[str, str | None] | None = None,
    backend: EmbeddingBackend | None = None,
    cache_dir: str | Path | None = None,
    wordlists: WordLists | None = None,
    priority: Sequence[str] = DEFAULT_PRIORITY,
    max_chars: int = DEFAULT_MAX_CHARS,
    options: CollapseOptions | None = None,
) -> TagMapping:
    """Collapse raw tags onto the vocabulary: overrides, then stage II rules, then stage III.

    Parameters
    ----------
    tags
        the raw tags; a tag repeated in the list is reported and mapped once.
    vocabulary
        the targets (:func:`~earmark.tags.vocabulary.build_vocabulary`).
    method
        ``rules`` (stage II only), ``embedding`` (stage III only) or ``both`` (stage III for
        what stage II left).
    score_level
        inclusive Jaro-Winkler threshold, in (0, 1].
    percentile
        stage III percentile, in percent, in (0, 50).
    overrides
        raw tag → target name (or "" / None for no target); matched by normalised text; they
        win over both stages.
    backend, cache_dir
        the embedding model and its cache folder (see :func:`~earmark.tags.embed.embed_texts`).
    wordlists, priority
        category word lists and category order (see :mod:`earmark.tags.categorize`).
    max_chars
        longest usable tag, in characters.
    options
        the second-pass settings (:class:`CollapseOptions`: several targets per tag, the
        decision rule, the sampled fit, the lexicon); None keeps the thesis's behaviour, with
        the normals fitted on every tag.

    Returns
    -------
    :class:`TagMapping`: one row per distinct raw tag in first-seen order, or with
    ``options.multi`` one row per (tag, target). A tag that negates a target is flagged
    ``negated`` in its problems and never reaches stage III.

    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    check_score_level(score_level)
    check_percentile(percentile)
    opts = options if options is not None else CollapseOptions(fit_sample=0)
    lists = wordlists if wordlists is not None else load_wordlists()
    normalized = normalize_tags(tags, max_chars=max_chars)
    unique = [tag for tag in normalized if "duplicate" not in tag.problems]
    warnings = list(vocabulary.warnings)
    if len(unique) < len(normalized):
        first = next(tag.raw for tag in normalized if "duplicate" in tag.problems)
        warnings.append(f"{len(normalized) - len(unique)} repeated tags mapped once (first: {first!r})")
    forced = _resolve_overrides(overrides or {}, vocabulary)
    decided: list[tuple[str, tuple[Match, ...]] | None] = [None] * len(unique)
    for i, tag in enumerate(unique):
        if tag.text in forced:
            decided[i] = ("override", (forced[tag.text],))
    if method in ("rules", "both"):
        open_tags = [i for i, d in enumerate(decided) if d is None]
        found = rule_matches(
            [unique[i] for i in open_tags],
            vocabulary,
            score_level=score_level,
            wordlists=lists,
            priority=priority,
            multi=opts.multi,
            lexicon=opts.lexicon,
        )
        for i, matches in zip(open_tags, found, strict=True):
            if matches:
                decided[i] = ("rules", matches)
    if method in ("embedding", "both"):
        eligible = [
            d is None and not has_negator(tag.text.split(" ")) for d, tag in zip(decided, unique, strict=True)
        ]
        known = lists.known_words | {w for t in vocabulary.targets for w in t.text.split(" ")}
        embedded = embedding_matches(
            unique,
            vocabulary,
            percentile=percentile,
            rule=opts.rule,
            margin=opts.margin,
            min_similarity=opts.min_similarity,
            multi=opts.multi,
            backend=backend,
            cache_dir=cache_dir,
            eligible=eligible,
            fit_sample=opts.fit_sample,
            seed=opts.seed,
            forms=inflection_table(vocabulary, known),
            parent_percentile=opts.parent_percentile,
        )
        for i, matches in enumerate(embedded):
            if matches and decided[i] is None:
                decided[i] = ("embedding", matches)
    if opts.multi:
        decided = [None if d is None else (d[0], _with_parents(d[1], vocabulary)) for d in decided]
    categories = categorize_tags(unique, wordlists=lists, score_level=score_level, priority=priority)
    rows = tuple(
        row
        for tag, category, decision in zip(unique, categories, decided, strict=True)
        for row in _rows(tag, category.category, decision, method != "rules")
    )
    return TagMapping(rows, vocabulary.targets, tuple(warnings))


def _with_parents(matches: tuple[Match, ...], vocabulary: Vocabulary) -> tuple[Match, ...]:
    """The matches, each followed by its target's ancestors not already among them."""
    out: list[Match] = []
    for match in matches:
        out.append(match)
        for parent in vocabulary.ancestors(match.target) if match.target.name else ():
            if all(m.target != parent for m in (*matches, *out)):
                out.append(Match(parent, "parent", match.score, f"parent of {match.target.name!r}"))
    return tuple(out)


def _rows(
    tag: NormalizedTag, category: str, decision: tuple[str, tuple[Match, ...]] | None, embedded: bool
) -> list[MappingRow]:
    if decision is None:
        rule = "no match" if tag.usable else "problem"
        if embedded and tag.usable and has_negator(tag.text.split(" ")):  # kept from stage III, so said
            detail = "holds a negator: not given to the embedding stage"
            return [
                MappingRow(
                    tag.raw,
                    tag.text,
                    category,
                    "",
                    "",
                    "none",
                    "negated",
                    None,
                    detail,
                    (*tag.problems, "negated"),
                )
            ]
        return [MappingRow(tag.raw, tag.text, category, "", "", "none", rule, None, "", tag.problems)]
    stage, matches = decision
    negated = any(m.negated for m in matches)
    problems = (*tag.problems, "negated") if negated else tag.problems
    rows: list[MappingRow] = []
    for match in matches:
        negation = match.rule == "negation" and not match.target.name
        target, target_category = match.target.name, match.target.category
        score = match.score if target else None
        stage_of = "none" if negation else stage
        rule = "negated" if negation else match.rule
        cells = (tag.raw, tag.text, category, target, target_category, stage_of, rule, score)
        rows.append(MappingRow(*cells, match.detail, problems))
    return rows

"""Summaries of a mapping and look-ups into it.

:func:`summarize` counts tags per target and stage, per stage and rule, per target category and
per tag category; :meth:`MappingSummary.to_markdown` renders them for a person.
:func:`lookup` lists the raw tags that went into one target (the thesis's ``get_embedded_tags``
done right: by target name or its normalised spelling, filtered by stage, with the rule and score
of each).
"""

from __future__ import annotations

import dataclasses
import html
from collections import Counter
from typing import Any

from earmark.tags.mapping import STAGES, MappingRow, TagMapping
from earmark.tags.normalize import normalize_tag
from earmark.tags.typos import closest

__all__ = ["MappingSummary", "lookup", "summarize"]


@dataclasses.dataclass(frozen=True)
class MappingSummary:
    """Counts over a mapping.

    Attributes
    ----------
    num_tags, num_mapped
        distinct raw tags, and those with a target.
    per_target
        target → stage → tags (every target of the mapping, zero included; with ``--multi`` a
        tag counts under each of its targets).
    per_stage
        stage → tags.
    per_rule
        ``stage/rule`` → tags.
    per_target_category
        target category → tags mapped into it.
    per_tag_category
        tag category → ``{"mapped": n, "unmapped": m}``.
    problems
        problem code → tags.
    warnings
        the mapping's warnings.

    """

    num_tags: int
    num_mapped: int
    per_target: dict[str, dict[str, int]]
    per_stage: dict[str, int]
    per_rule: dict[str, int]
    per_target_category: dict[str, int]
    per_tag_category: dict[str, dict[str, int]]
    problems: dict[str, int]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return dataclasses.asdict(self)

    def to_markdown(self) -> str:
        """A readable report: totals, then tables per stage, rule, category and target.

        Tags and targets are HTML-escaped (a tag may hold markup) and ``|`` is escaped.
        """
        lines = [
            "# Tag mapping summary",
            "",
            f"{self.num_mapped} of {self.num_tags} tags collapse onto {len(self.per_target)} targets.",
            "",
        ]
        lines += _table(["stage", "tags"], [[k, v] for k, v in self.per_stage.items()])
        lines += _table(["stage/rule", "tags"], [[k, v] for k, v in self.per_rule.items()])
        lines += _table(["target category", "tags"], [[k, v] for k, v in self.per_target_category.items()])
        lines += _table(
            ["tag category", "mapped", "unmapped"],
            [[k, v["mapped"], v["unmapped"]] for k, v in self.per_tag_category.items()],
        )
        stages = [s for s in STAGES if s != "none"]
        lines += _table(
            ["target", *stages, "total"],
            [
                [t, *(counts.get(s, 0) for s in stages), sum(counts.values())]
                for t, counts in self.per_target.items()
            ],
        )
        if self.problems:
            lines += _table(["problem", "tags"], [[k, v] for k, v in self.problems.items()])
        if self.warnings:
            lines += ["## Warnings", "", *(f"- {_escape(w)}" for w in self.warnings), ""]
        return "\n".join(lines)


def _escape(value: object) -> str:
    return html.escape(str(value)).replace("|", "\\|")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows]
    return [*out, ""]


def summarize(mapping: TagMapping) -> MappingSummary:
    """Count a mapping's tags per target, stage, rule and category."""
    per_target: dict[str, dict[str, int]] = {name: {} for name in mapping.target_names}
    per_tag_category: dict[str, dict[str, int]] = {}
    per_target_category: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    for first in mapping.by_tag.values():
        problems.update(first.problems)
        mapped = any(row.target for row in mapping.all_by_tag[first.tag])
        bucket = per_tag_category.setdefault(first.tag_category, {"mapped": 0, "unmapped": 0})
        bucket["mapped" if mapped else "unmapped"] += 1
    for row in mapping.rows:
        if row.target:
            counts = per_target.setdefault(row.target, {})
            counts[row.stage] = counts.get(row.stage, 0) + 1
            per_target_category[row.target_category] += 1
    return MappingSummary(
        num_tags=mapping.num_tags,
        num_mapped=len({row.tag for row in mapping.rows if row.target}),
        per_target=per_target,
        per_stage={s: n for s in STAGES if (n := sum(1 for r in mapping.rows if r.stage == s))},
        per_rule=dict(Counter(f"{r.stage}/{r.rule}" for r in mapping.rows).most_common()),
        per_target_category=dict(per_target_category.most_common()),
        per_tag_category=dict(sorted(per_tag_category.items())),
        problems=dict(problems.most_common()),
        warnings=mapping.warnings,
    )


def lookup(mapping: TagMapping, target: str, *, stage: str | None = None) -> list[MappingRow]:
    """The rows of the raw tags that collapsed into ``target``.

    Parameters
    ----------
    mapping
        the mapping.
    target
        a target name, as spelt in the mapping or in any spelling that normalises the same
        (``singer songwriter`` finds ``singer-songwriter``).
    stage
        only rows of this stage (one of :data:`~earmark.tags.mapping.STAGES` but ``none``).

    Returns
    -------
    the rows, best score first (ties in mapping order); empty when the target is known but
    nothing went into it. An unknown target raises a ValueError naming the closest targets.

    """
    if stage is not None and stage not in STAGES[:-1]:
        raise ValueError(f"unknown stage {stage!r}; valid stages: {', '.join(STAGES[:-1])}")
    names = mapping.target_names
    if not names:
        raise ValueError("the mapping has no target: no tag was collapsed")
    name = target if target in names else None
    if name is None:
        wanted = normalize_tag(target).text
        name = next((n for n in names if normalize_tag(n).text == wanted), None)
    if name is None:
        near = closest(normalize_tag(target).text, [normalize_tag(n).text for n in names], score_level=0.7)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"{target!r} is not a target of this mapping ({len(names)} targets){hint}")
    rows = [r for r in mapping.rows if r.target == name and (stage is None or r.stage == stage)]
    return sorted(rows, key=lambda r: -(r.score if r.score is not None else 0.0))

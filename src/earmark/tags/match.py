"""What a stage decides for a tag: a :class:`Match` (a target, the rule, its score and why)."""

from __future__ import annotations

import dataclasses

from earmark.tags.vocabulary import Target

__all__ = ["NO_TARGET", "Match"]

#: The target of a negated tag when the vocabulary has no ``no X`` target: none.
NO_TARGET = Target("", "", "")


@dataclasses.dataclass(frozen=True)
class Match:
    """The target a stage chose for a tag.

    Attributes
    ----------
    target
        the chosen :class:`~earmark.tags.vocabulary.Target` (:data:`NO_TARGET` for a negated
        tag that goes nowhere).
    rule
        one of :data:`~earmark.tags.collapse.RULES`, or ``percentile`` / ``margin`` /
        ``parent`` (stage III), or ``override``.
    score
        1.0, the Jaro-Winkler similarity for ``jaro-winkler``, the cosine similarity for
        stage III.
    detail
        what matched, in words.
    negated
        the texts of the targets the tag negates (``not metal`` → ``("metal",)``).

    """

    target: Target
    rule: str
    score: float = 1.0
    detail: str = ""
    negated: tuple[str, ...] = ()

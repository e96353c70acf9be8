"""The second pass's settings of :func:`~earmark.tags.mapping.collapse_tags`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Annotated

from earmark.config import Range, check_ranges
from earmark.tags.decide import DECISION_RULES, DEFAULT_MARGIN, DEFAULT_MIN_SIMILARITY
from earmark.tags.embed import DEFAULT_FIT_SAMPLE

__all__ = ["CollapseOptions"]


@dataclasses.dataclass(frozen=True)
class CollapseOptions:
    """The second pass's settings of :func:`collapse_tags` (the defaults are the CLI's).

    Attributes
    ----------
    multi
        a tag maps to every target it contains (rules) or that claims it (stage III), one
        mapping row per (tag, target); False keeps one target per tag.
    rule
        stage III's decision rule, one of :data:`~earmark.tags.decide.DECISION_RULES`
        (``percentile`` is the thesis's).
    margin, min_similarity
        the margin rule's settings (:func:`~earmark.tags.decide.decide`).
    fit_sample
        fit each target's normal on a seeded sample of this many tags (0: on all, the thesis's
        way); only the tags stage III may assign and the sample are embedded.
    seed
        the sample's seed.
    lexicon
        style → parent genres for the rules' ``lexicon`` rule
        (:func:`~earmark.tags.lexicon.read_lexicon`); None for none.
    parent_percentile
        stage III places a tag the rule leaves under the parent of its nearest target when it
        lies below this looser percentile (in %) of that target's normal; 0 for off (needs a
        vocabulary with parents).

    """

    multi: bool = False
    rule: str = "percentile"
    margin: Annotated[float, Range(ge=0, le=2)] = DEFAULT_MARGIN
    min_similarity: Annotated[float, Range(ge=-1, le=1)] = DEFAULT_MIN_SIMILARITY
    fit_sample: Annotated[int, Range(ge=0)] = DEFAULT_FIT_SAMPLE
    seed: Annotated[int, Range(ge=0)] = 0
    lexicon: Mapping[str, Sequence[str]] | None = None
    parent_percentile: Annotated[float, Range(ge=0, lt=50)] = 0.0

    def __post_init__(self) -> None:
        if self.rule not in DECISION_RULES:
            raise ValueError(f"unknown decision rule {self.rule!r}; valid rules: {', '.join(DECISION_RULES)}")
        check_ranges(self)

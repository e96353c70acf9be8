"""Folksonomy tags: normalise, categorise, collapse onto a vocabulary, look up, turn into labels.

The five capabilities, each a function:

- :func:`categorize_tags`: emotion, descriptive, genre, number or junk, with typo correction by
  Jaro-Winkler (:mod:`earmark.tags.categorize`);
- :func:`collapse_by_rules`: stage II, string rules (:mod:`earmark.tags.collapse`), with
  negation (:mod:`earmark.tags.negation`), inflection both ways (:mod:`earmark.tags.inflect`)
  and an optional lexicon of styles (:mod:`earmark.tags.lexicon`);
- :func:`collapse_by_embedding`: stage III, sentence embeddings and a per-target percentile of
  a fitted normal (:mod:`earmark.tags.embed`, the ``embed`` extra), or the margin rule
  (:mod:`earmark.tags.decide`);
- :func:`collapse_tags` runs overrides, stage II and stage III into an auditable
  :class:`TagMapping`, and :func:`lookup` lists what went into a target;
- :func:`tags_to_labels`: per-clip raw tags → a positives-only label table, with
  :meth:`TagMapping.categories` as the class groups of per-category metrics.
"""

from earmark.tags.categorize import (
    CATEGORIES,
    DEFAULT_PRIORITY,
    TagCategory,
    WordLists,
    categorize_tag,
    categorize_tags,
    load_wordlists,
)
from earmark.tags.collapse import NO_TARGET, RULES, Match, collapse_by_rules, match_rules, rule_matches
from earmark.tags.decide import (
    DECISION_RULES,
    DEFAULT_MARGIN,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_PERCENTILE,
    Decision,
    PercentileAssignment,
    decide,
    percentile_assign,
)
from earmark.tags.embed import (
    DEFAULT_FIT_SAMPLE,
    DEFAULT_MODEL,
    EmbeddingBackend,
    EmbeddingUnavailableError,
    SentenceTransformerBackend,
    collapse_by_embedding,
    default_cache_dir,
    embed_texts,
    embedding_matches,
    l2_distances,
)
from earmark.tags.inflect import inflection_table, inflections, stems, word_family
from earmark.tags.io import read_overrides, read_tag_list, read_vocabulary, write_categories
from earmark.tags.lexicon import read_lexicon
from earmark.tags.mapping import (
    COLUMNS,
    METHODS,
    STAGES,
    CollapseOptions,
    MappingRow,
    TagMapping,
    collapse_tags,
)
from earmark.tags.negation import NEGATORS
from earmark.tags.normalize import PROBLEMS, NormalizedTag, normalize_tag, normalize_tags, normalize_text
from earmark.tags.summary import MappingSummary, lookup, summarize
from earmark.tags.to_labels import (
    ClipTags,
    LabelResult,
    read_clip_tags,
    tags_to_labels,
    write_groups,
    write_prepare_table,
)
from earmark.tags.typos import DEFAULT_SCORE_LEVEL, closest, jaro_winkler
from earmark.tags.vocabulary import UNCATEGORIZED, Target, Vocabulary, build_vocabulary

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "DECISION_RULES",
    "DEFAULT_FIT_SAMPLE",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_MODEL",
    "DEFAULT_PERCENTILE",
    "DEFAULT_PRIORITY",
    "DEFAULT_SCORE_LEVEL",
    "METHODS",
    "NEGATORS",
    "NO_TARGET",
    "PROBLEMS",
    "RULES",
    "STAGES",
    "UNCATEGORIZED",
    "ClipTags",
    "CollapseOptions",
    "Decision",
    "EmbeddingBackend",
    "EmbeddingUnavailableError",
    "LabelResult",
    "MappingRow",
    "MappingSummary",
    "Match",
    "NormalizedTag",
    "PercentileAssignment",
    "SentenceTransformerBackend",
    "TagCategory",
    "TagMapping",
    "Target",
    "Vocabulary",
    "WordLists",
    "build_vocabulary",
    "categorize_tag",
    "categorize_tags",
    "closest",
    "collapse_by_embedding",
    "collapse_by_rules",
    "collapse_tags",
    "decide",
    "default_cache_dir",
    "embed_texts",
    "embedding_matches",
    "inflection_table",
    "inflections",
    "jaro_winkler",
    "l2_distances",
    "load_wordlists",
    "lookup",
    "match_rules",
    "normalize_tag",
    "normalize_tags",
    "normalize_text",
    "percentile_assign",
    "read_clip_tags",
    "read_lexicon",
    "read_overrides",
    "read_tag_list",
    "read_vocabulary",
    "rule_matches",
    "stems",
    "summarize",
    "tags_to_labels",
    "word_family",
    "write_categories",
    "write_groups",
    "write_prepare_table",
]

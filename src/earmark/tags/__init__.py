"""Folksonomy tags: normalise, categorise, collapse onto a vocabulary, look up, turn into labels.

The five capabilities, each a function:

- :func:`categorize_tags`: emotion, descriptive, genre, number or junk, with typo correction by
  Jaro-Winkler (:mod:`earmark.tags.categorize`);
- :func:`collapse_by_rules`: stage II, string rules (:mod:`earmark.tags.collapse`);
- :func:`collapse_by_embedding`: stage III, sentence embeddings and a per-target percentile of
  a fitted normal (:mod:`earmark.tags.embed`, the ``embed`` extra);
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
from earmark.tags.collapse import RULES, Match, collapse_by_rules, match_rules
from earmark.tags.embed import (
    DEFAULT_MODEL,
    DEFAULT_PERCENTILE,
    EmbeddingBackend,
    EmbeddingUnavailableError,
    PercentileAssignment,
    SentenceTransformerBackend,
    collapse_by_embedding,
    default_cache_dir,
    embed_texts,
    l2_distances,
    percentile_assign,
)
from earmark.tags.io import read_overrides, read_tag_list, read_vocabulary, write_categories
from earmark.tags.mapping import COLUMNS, METHODS, STAGES, MappingRow, TagMapping, collapse_tags
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
    "DEFAULT_MODEL",
    "DEFAULT_PERCENTILE",
    "DEFAULT_PRIORITY",
    "DEFAULT_SCORE_LEVEL",
    "METHODS",
    "PROBLEMS",
    "RULES",
    "STAGES",
    "UNCATEGORIZED",
    "ClipTags",
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
    "default_cache_dir",
    "embed_texts",
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
    "read_overrides",
    "read_tag_list",
    "read_vocabulary",
    "summarize",
    "tags_to_labels",
    "write_categories",
    "write_groups",
    "write_prepare_table",
]

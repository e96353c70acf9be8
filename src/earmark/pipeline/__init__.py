"""Pipelines: recipes of stages (train, select, filter, relabel), each stage a run directory.

The FSDKaggle2019 multi-stage system (warm-up on selected noisy clips, fine-tune on curated,
filter the noisy set, semi-supervised consistency training) and the FSDKaggle2018 iterative
blacklist are recipes of these stages; see ``recipes/`` and :mod:`earmark.pipeline.stages`.
"""

from earmark.pipeline.filters import (
    best_per_class,
    flag_by_rank,
    flag_by_threshold,
    per_class_thresholds,
    threshold_agreement,
    top_k_agreement,
)
from earmark.pipeline.oof import AuditRound, audit_rounds, out_of_fold_scores
from earmark.pipeline.recipe import Recipe, Stage, load_recipe, recipe_from_dict
from earmark.pipeline.runner import run_pipeline
from earmark.pipeline.state import PipelineError, PipelineRun

__all__ = [
    "AuditRound",
    "PipelineError",
    "PipelineRun",
    "Recipe",
    "Stage",
    "audit_rounds",
    "best_per_class",
    "flag_by_rank",
    "flag_by_threshold",
    "load_recipe",
    "out_of_fold_scores",
    "per_class_thresholds",
    "recipe_from_dict",
    "run_pipeline",
    "threshold_agreement",
    "top_k_agreement",
]

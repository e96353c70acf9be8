"""``earmark study``: remedies (arms) × seeds × folds on one data set, compared with a baseline.

:func:`load_study` reads the study file (:mod:`earmark.study.config`), :func:`run_study` trains
every run, resumable at any point (:mod:`earmark.study.execute`), :func:`estimate_label_quality`
says how many labels are missing or wrong (:mod:`earmark.study.quality`), :func:`collect` scores them on
the test split and compares each arm with the baseline by a paired bootstrap
(:mod:`earmark.study.compare`), and :func:`write_report` writes ``report.md``, ``results.json``
and a plot with a one-line recommendation (:mod:`earmark.study.report`).
"""

from earmark.study.compare import (
    ArmResult,
    StudyIncomplete,
    StudyResults,
    collect,
    seed_mean,
    truth_path,
)
from earmark.study.config import ArmConfig, StudyConfig, load_study, study_from_dict
from earmark.study.execute import read_cost, run_study
from earmark.study.output import write_report
from earmark.study.plan import Cell, PlannedRun, cells, plan_cell
from earmark.study.quality import LabelQuality, estimate_label_quality
from earmark.study.report import markdown, plot, recommendation

__all__ = [
    "ArmConfig",
    "ArmResult",
    "Cell",
    "LabelQuality",
    "PlannedRun",
    "StudyConfig",
    "StudyIncomplete",
    "StudyResults",
    "cells",
    "collect",
    "estimate_label_quality",
    "load_study",
    "markdown",
    "plan_cell",
    "plot",
    "read_cost",
    "recommendation",
    "run_study",
    "seed_mean",
    "study_from_dict",
    "truth_path",
    "write_report",
]

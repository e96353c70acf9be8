"""Audits: ranked lists of suspected label errors, ready to review and to turn into label edits."""

from earmark.audit.missing import rank_within_class, suspected_missing
from earmark.audit.noisy import (
    NOISY_METHODS,
    PRIOR_CLIPS,
    class_thresholds,
    clip_suspicion,
    confident_flags,
    junk_scores,
    label_suspicion,
    suspected_noisy,
)
from earmark.audit.rates import MISSING_METHODS, RateEstimate, estimate_missing_rate, estimate_noise_rate
from earmark.audit.table import (
    AUDIT_COLUMNS,
    AuditError,
    AuditItem,
    format_top,
    parse_top,
    read_audit,
    summary_path,
    write_audit,
    write_audit_summary,
)

__all__ = [
    "AUDIT_COLUMNS",
    "MISSING_METHODS",
    "NOISY_METHODS",
    "PRIOR_CLIPS",
    "AuditError",
    "AuditItem",
    "RateEstimate",
    "class_thresholds",
    "clip_suspicion",
    "confident_flags",
    "estimate_missing_rate",
    "estimate_noise_rate",
    "format_top",
    "junk_scores",
    "label_suspicion",
    "parse_top",
    "rank_within_class",
    "read_audit",
    "summary_path",
    "suspected_missing",
    "suspected_noisy",
    "write_audit",
    "write_audit_summary",
]

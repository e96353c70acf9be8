"""Audits: ranked lists of suspected label errors, ready to review and to turn into label edits."""

from earmark.audit.missing import rank_within_class, suspected_missing
from earmark.audit.scoring import score_run
from earmark.audit.table import AUDIT_COLUMNS, AuditItem, format_top, read_audit, write_audit

__all__ = [
    "AUDIT_COLUMNS",
    "AuditItem",
    "format_top",
    "rank_within_class",
    "read_audit",
    "score_run",
    "suspected_missing",
    "write_audit",
]

"""What a reviewer's decision on an audit card writes: the accept / reject / other-label rule.

A card suggests one change (``add`` or ``remove`` a class, or ``blacklist`` the clip). The
reviewer accepts it, rejects it, picks another label, or skips:

=========  ============================  ===================================================
decision   suggestion                    edits
=========  ============================  ===================================================
accept     any                           the suggestion itself
reject     ``add``                       ``remove`` the class (the sound is not there)
reject     ``remove``                    ``add`` the class (the label is confirmed)
reject     ``blacklist``                 ``add`` every positive label (the clip is kept)
other      ``add`` / ``remove``          ``remove`` the card's class, ``add`` the chosen one
other      ``blacklist``                 ``remove`` every positive label but the chosen one,
                                         ``add`` the chosen one
skip       any                           nothing
=========  ============================  ===================================================

The page is given each card's edits (:func:`card_edits`) and only fills in the reviewer and the
time; for ``other`` it replaces :data:`CHOSEN` by the label picked and drops the removal of that
label (:func:`fill_chosen` does the same in Python).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from earmark.audit.table import AuditItem
from earmark.data.edits import Action

__all__ = [
    "CHOSEN",
    "DECISIONS",
    "Decision",
    "EditDraft",
    "card_edits",
    "decision_edits",
    "fill_chosen",
]

Decision = Literal["accept", "reject", "other", "skip"]
DECISIONS: tuple[Decision, ...] = ("accept", "reject", "other", "skip")
CHOSEN = "{chosen}"  # stands for the label the reviewer picks in an ``other`` decision


@dataclasses.dataclass(frozen=True)
class EditDraft:
    """A label edit without reviewer and time: what a decision does to one class of the clip.

    ``unless_chosen``: the edit is dropped when the reviewer's chosen label is ``class_name``
    (replacing a label by itself changes nothing).
    """

    class_name: str
    action: Action
    why: str
    unless_chosen: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the page reads: ``class``, ``action``, ``why``, ``unlessChosen``."""
        return {
            "class": self.class_name,
            "action": self.action,
            "why": self.why,
            "unlessChosen": self.unless_chosen,
        }


def decision_edits(
    item: AuditItem, positive: Sequence[str], decision: Decision, *, chosen: str | None = None
) -> list[EditDraft]:
    """The edits ``decision`` on the card of ``item`` writes.

    Parameters
    ----------
    item
        The audit row the card shows.
    positive
        The clip's positive labels (what a rejected blacklist keeps, what another label for a
        blacklisted clip replaces).
    decision
        ``"accept"``, ``"reject"``, ``"other"`` or ``"skip"``.
    chosen
        The label picked in an ``other`` decision (required there, ignored otherwise).

    Raises
    ------
    ValueError
        For an unknown decision, or ``other`` without ``chosen``.

    Examples
    --------
    >>> item = AuditItem(clip="c1", class_name="Rain", suggestion="remove", score=0.9, rank=3)
    >>> [(e.class_name, e.action) for e in decision_edits(item, ["Rain"], "reject")]
    [('Rain', 'add')]

    """
    if decision == "other":
        if not chosen:
            raise ValueError(f"card {item.rank} ({item.clip}): an 'other' decision needs the chosen label")
        return fill_chosen(_other(item, positive), chosen)
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}")
    return _fixed(item, positive, decision)


def card_edits(item: AuditItem, positive: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """What the page is given for a card: each decision's edits, ``other``'s with :data:`CHOSEN`."""
    edits = {decision: _fixed(item, positive, decision) for decision in ("accept", "reject", "skip")}
    edits["other"] = _other(item, positive)
    return {decision: [edit.as_dict() for edit in drafts] for decision, drafts in edits.items()}


def fill_chosen(drafts: Sequence[EditDraft], chosen: str) -> list[EditDraft]:
    """``drafts`` with :data:`CHOSEN` replaced by ``chosen`` and the removals of ``chosen`` dropped."""
    return [
        dataclasses.replace(
            draft,
            class_name=draft.class_name.replace(CHOSEN, chosen),
            why=draft.why.replace(CHOSEN, chosen),
            unless_chosen=False,
        )
        for draft in drafts
        if not (draft.unless_chosen and draft.class_name == chosen)
    ]


def _where(item: AuditItem) -> str:
    return f"audit rank {item.rank}"


def _fixed(item: AuditItem, positive: Sequence[str], decision: Decision) -> list[EditDraft]:
    where = _where(item)
    if decision == "accept":
        return [EditDraft(item.class_name, item.suggestion, f"review: accepted the suggestion ({where})")]
    if decision == "reject":
        if item.suggestion == "add":
            return [EditDraft(item.class_name, "remove", f"review: not present ({where})")]
        if item.suggestion == "remove":
            return [EditDraft(item.class_name, "add", f"review: label confirmed ({where})")]
        return [EditDraft(name, "add", f"review: clip kept, label confirmed ({where})") for name in positive]
    return []


def _other(item: AuditItem, positive: Sequence[str]) -> list[EditDraft]:
    where = _where(item)
    replaced = list(positive) if item.suggestion == "blacklist" else [item.class_name]
    removals = [
        EditDraft(name, "remove", f"review: {CHOSEN} instead ({where})", unless_chosen=True)
        for name in replaced
    ]
    return [*removals, EditDraft(CHOSEN, "add", f"review: chosen label ({where})")]

"""Down-weighting suspects instead of blacklisting them: ``suspects: {table: ..., factor: ...}``.

An audit table (:mod:`earmark.audit.table`, e.g. the ``audit_noisy.csv`` that ``earmark audit
noisy`` writes from out-of-fold scores) lists suspected labels, most suspicious first. Rather
than removing them (the blacklist loop of the FSDKaggle2018 14th-place system, which on the ESC
crowd labels cost accuracy), a strategy given ``suspects`` scales their loss by ``factor``:

* a ``remove`` item (a suspected wrong positive) scales the loss of that clip × class entry;
* a ``blacklist`` item (a suspected junk clip) scales every entry of the clip;
* an ``add`` item (a suspected missing positive, from ``earmark audit missing``) scales the
  entry's loss, which matters where the strategy reads a missing entry as a negative.

An entry named by more than one item is scaled once. The losses are weighted means, so a
suspected entry counts ``factor`` in the denominator too: ``factor: 0`` is blacklisting (the
entry is masked), ``factor: 1`` changes nothing. ``top`` keeps only the table's first ``top``
items (0: all of them).

The table is read once before training (``prepare_labels``), against the training labels: an
unknown class raises naming the file and line; items about clips outside the training split
are skipped and counted (an audit may cover clips that are now validation or test), and a table
none of whose clips is in the training split raises. With ``is_main`` the strategy writes
``suspects.json`` to the run: the table, the factor and the counts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import torch

from earmark.audit.table import read_audit
from earmark.config import ConfigError, Range, check_ranges
from earmark.data.labels import LabelError, Labels
from earmark.io import write_text_atomic
from earmark.strategies.context import TrainingContext

__all__ = ["SuspectWeights", "SuspectsConfig", "suspect_multipliers"]


@dataclasses.dataclass(frozen=True)
class SuspectsConfig:
    """``table``: an audit table; its items' loss is scaled by ``factor`` (first ``top`` items; 0: all)."""

    table: str = ""  # an audit table, e.g. <run>/audit_noisy.csv
    factor: Annotated[float, Range(ge=0, le=1)] = 0.5  # a suspected entry's loss multiplier
    top: Annotated[int, Range(ge=0)] = 0  # keep the table's first top items (0: all)

    def __post_init__(self) -> None:
        check_ranges(self, key="suspects")
        if not self.table:
            raise ConfigError("suspects needs table (an audit table such as <run>/audit_noisy.csv)")


def suspect_multipliers(
    labels: Labels, table: str | Path, *, factor: float, top: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per suspected training clip, the ``(classes,)`` float32 multipliers of its entries' loss.

    Parameters
    ----------
    labels : Labels
        The training labels (clips outside them are skipped).
    table : path
        An audit table (:func:`earmark.audit.table.read_audit`).
    factor : float in [0, 1]
        The multiplier of a suspected entry.
    top : int
        Keep the first ``top`` items of the table (0: all).

    Returns
    -------
    (dict, dict)
        ``{clip id: (classes,) multipliers}`` for the clips with a suspect, and the counts
        ``{"items", "skipped_items", "clips", "entries"}``.

    Raises
    ------
    LabelError
        an item names a class outside the vocabulary (the message names the file and line), or
        no item is about a training clip.

    """
    items = read_audit(table)
    if top:
        items = items[:top]
    rows = {clip: i for i, clip in enumerate(labels.clip_ids.tolist())}
    classes = {name: j for j, name in enumerate(labels.class_names)}
    suspected = np.zeros(labels.positive.shape, dtype=bool)
    skipped = 0
    for item in items:
        row = rows.get(item.clip)
        if item.class_name and item.class_name not in classes:
            raise LabelError(
                f"{table}, line {item.line}: class {item.class_name!r} is not in the vocabulary "
                f"({labels.num_classes} classes); the audit is of other labels"
            )
        if row is None:
            skipped += 1
        elif item.class_name:
            suspected[row, classes[item.class_name]] = True
        else:
            suspected[row] = True
    if items and skipped == len(items):
        raise LabelError(
            f"{table}: none of its {len(items)} items is about a training clip (the first is "
            f"{items[0].clip!r}); the audit is of another data set or split"
        )
    multipliers = {
        labels.clip_ids[r]: np.where(suspected[r], np.float32(factor), np.float32(1.0)).astype(np.float32)
        for r in np.flatnonzero(suspected.any(axis=1))
    }
    counts = {
        "items": len(items),
        "skipped_items": skipped,
        "clips": len(multipliers),
        "entries": int(suspected.sum()),
    }
    return multipliers, counts


class SuspectWeights:
    """The suspects a strategy holds: read before training, applied to each batch's weights."""

    def __init__(self, config: SuspectsConfig) -> None:
        self.config = config
        self._multipliers: dict[str, np.ndarray] | None = None

    def prepare(self, train: Labels, context: TrainingContext) -> None:
        """Read the table against ``train``; the main process writes ``suspects.json``."""
        config = self.config
        self._multipliers, counts = suspect_multipliers(
            train, config.table, factor=config.factor, top=config.top
        )
        if context.is_main:
            summary = {"table": str(config.table), "factor": config.factor, "top": config.top, **counts}
            write_text_atomic(context.run_dir / "suspects.json", json.dumps(summary, indent=2))

    def scale(self, weights: torch.Tensor, clip_ids: tuple[str, ...]) -> torch.Tensor:
        """``weights`` ``(batch, classes)`` times each row's multipliers (1 for clips not suspected)."""
        if self._multipliers is None:
            raise ValueError(
                f"suspects from {self.config.table} were not read: the strategy's prepare_labels "
                "must run before its losses"
            )
        found = [(row, self._multipliers.get(clip)) for row, clip in enumerate(clip_ids)]
        if not any(m is not None for _, m in found):
            return weights
        scale = torch.ones_like(weights)
        for row, multipliers in found:
            if multipliers is not None:
                scale[row] = torch.from_numpy(multipliers).to(weights)
        return weights * scale

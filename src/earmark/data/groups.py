"""Groups of clips that must stay together when data is split (the takes of one recording)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["group_keys"]


def group_keys(clip_ids: Sequence[str] | np.ndarray, pattern: str | None) -> np.ndarray | None:
    r"""Each clip's group: the first group of ``pattern`` searched in its id (the id when no match).

    ``None`` when ``pattern`` is ``None`` (no grouping). ESC's takes of one Freesound recording,
    ``<fold>-<id>-<take>``, share the group ``'^(\d+-\d+)-'`` picks.
    """
    if pattern is None:
        return None
    compiled = re.compile(pattern)
    keys = []
    for clip in (str(c) for c in clip_ids):
        found = compiled.search(clip)
        keys.append(found.group(1) if found and found.groups() else clip)
    return np.array(keys, dtype=object)

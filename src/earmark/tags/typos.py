"""Typo correction by Jaro-Winkler similarity (rapidfuzz, the ``tags`` extra).

A word is corrected to the closest known word when their Jaro-Winkler similarity is at least
``score_level`` (0.9 by default, the thesis's setting). The threshold is inclusive: a pair scoring
exactly ``score_level`` is a match. Jaro-Winkler uses the usual prefix scale 0.1 over at most four
leading characters, so it favours words that share their start (``rcok`` vs ``rock`` is 0.93,
``kcor`` vs ``rock`` is 0.5).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from types import ModuleType

__all__ = ["DEFAULT_SCORE_LEVEL", "check_score_level", "closest", "jaro_winkler"]

#: The thesis's Jaro-Winkler threshold.
DEFAULT_SCORE_LEVEL = 0.9


@functools.cache  # a failed import is not cached: it raises again
def _rapidfuzz(part: str) -> ModuleType:
    try:
        return importlib.import_module(f"rapidfuzz.{part}")
    except ImportError as error:
        raise ImportError(
            "typo correction needs rapidfuzz, in the 'tags' extra: pip install 'earmark[tags]'"
        ) from error


def check_score_level(score_level: float) -> float:
    """``score_level`` if it lies in (0, 1], else a ValueError saying so."""
    if not 0.0 < score_level <= 1.0:
        raise ValueError(f"score_level must be in (0, 1] (a Jaro-Winkler similarity), got {score_level}")
    return float(score_level)


def jaro_winkler(first: str, second: str) -> float:
    """Jaro-Winkler similarity of two strings, in [0, 1] (1 = equal).

    Examples
    --------
    >>> round(jaro_winkler("martha", "marhta"), 4)
    0.9611

    """
    return float(_rapidfuzz("distance").JaroWinkler.similarity(first, second))


def closest(
    word: str, choices: Sequence[str], *, score_level: float = DEFAULT_SCORE_LEVEL
) -> tuple[str, float] | None:
    """The choice most similar to ``word``, if its Jaro-Winkler similarity reaches ``score_level``.

    Parameters
    ----------
    word
        the word to correct.
    choices
        the known words; on a tie the earliest wins.
    score_level
        the inclusive threshold, in (0, 1].

    Returns
    -------
    ``(choice, similarity)`` or None when no choice reaches the threshold (or there are none).

    """
    check_score_level(score_level)
    if not word or not choices:
        return None
    distance = _rapidfuzz("distance")
    # compare here rather than through rapidfuzz's score_cutoff, which turns the cutoff into a
    # distance and so may drop a pair scoring exactly score_level
    best = _rapidfuzz("process").extractOne(word, choices, scorer=distance.JaroWinkler.similarity)
    if best is None or float(best[1]) < score_level:
        return None
    return str(best[0]), float(best[1])

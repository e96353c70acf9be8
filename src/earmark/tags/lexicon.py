"""The optional lexicon of styles: a sub-genre or style → the genres it belongs to.

A style with no target of its own (``grunge``, ``techno``, ``bebop``) maps under its parent
target by the rules' ``lexicon`` rule (:mod:`earmark.tags.collapse`) when a lexicon is given.
The shipped one, ``earmark/tags/wordlists/subgenres.txt`` (about 70 styles, written for earmark
from common knowledge of music styles), is read by ``read_lexicon("builtin")``; a file of one's
own has the same form: one style a line, a tab, then its parent genres, most specific first,
separated by commas (``#`` comments and blank lines skipped), or a ``.csv`` with columns
``style`` and ``parent`` (one row per pair, in order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from earmark.tags.io import csv_rows
from earmark.tags.normalize import normalize_text
from earmark.tags.vocabulary import Target, Vocabulary

__all__ = ["BUILTIN", "lexicon_targets", "read_lexicon"]

#: The name that reads the shipped lexicon.
BUILTIN = "builtin"


def _parse_text(text: str, where: str) -> dict[str, list[str]]:
    lexicon: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        style, tab, parents = line.partition("\t")
        names = [normalize_text(p) for p in parents.split(",") if p.strip()]
        if not tab or not normalize_text(style) or not names:
            raise ValueError(f"{where}, line {number}: expected 'style<TAB>parent, parent', got {line!r}")
        lexicon.setdefault(normalize_text(style), []).extend(names)
    return lexicon


def read_lexicon(source: str | Path) -> dict[str, list[str]]:
    """Style → parent genres (normalised), from ``"builtin"``, a text file or a CSV.

    Raises
    ------
    FileNotFoundError, ValueError
        naming the file and line at fault.

    """
    if str(source) == BUILTIN:
        package = resources.files("earmark.tags") / "wordlists" / "subgenres.txt"
        return _parse_text(package.read_text(encoding="utf-8"), "the builtin lexicon")
    path = Path(source)
    if path.suffix.lower() == ".csv":
        lexicon: dict[str, list[str]] = {}
        for line, cells in csv_rows(path, "lexicon", ["style", "parent"])[1]:
            style, parent = normalize_text(cells.get("style", "")), normalize_text(cells.get("parent", ""))
            if not style or not parent:
                raise ValueError(f"{path}, line {line}: empty style or parent")
            lexicon.setdefault(style, []).append(parent)
        return lexicon
    if not path.is_file():
        raise FileNotFoundError(f"lexicon not found: {path}")
    return _parse_text(path.read_text(encoding="utf-8-sig"), str(path))


def lexicon_targets(lexicon: Mapping[str, Sequence[str]], vocabulary: Vocabulary) -> dict[str, list[Target]]:
    """Style → its parents that are targets, in the lexicon's order.

    A style with no parent among the targets, or that is a target itself, is left out.
    """
    found: dict[str, list[Target]] = {}
    for style, parents in lexicon.items():
        targets = list(dict.fromkeys(t for p in parents if (t := vocabulary.find(p)) is not None))
        if targets and style not in vocabulary.by_text:
            found[style] = targets
    return found

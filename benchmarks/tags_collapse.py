"""earmark's tag collapsing against the thesis's stage II / stage III mappings, and its speed.

The real data is ``lastfm_tags/`` of the shared data folder: ``sensible_tags_encoding.txt``
(the thesis's stage II, string rules: about 56,000 raw last.fm tags → one of 50 targets),
``word_embedding_encoding.txt`` (its stage III file: about 58,700 tags, the stage II ones plus
those its embeddings added) and ``targets.csv`` (the 50 targets and their categories). The raw
tag list is every tag of those files, in file order.

Comparison (per target and per target category):

- earmark ``--method rules`` against the thesis's stage II, over the stage II tags;
- earmark ``--method both`` against the thesis's stage III file, over all its tags;

with, per target, the tags each side sends there, the tags both send there, and their Jaccard
agreement; overall, how many of the thesis's tags earmark sends to the same target, to another
one, or nowhere. A seeded random sample of the disagreements of ``both`` is printed for review.

Timing: rules alone; both stages cold (a fresh embedding cache: model load and embedding of
every tag); both stages warm (the cache filled). Each once: wall-clock seconds and the process's
CPU seconds (all its threads), on whatever else the machine is running (the load average is
printed before and after).

    python benchmarks/tags_collapse.py [--data ../shared/data] [--sample 40] [--seed 0] [--skip-embedding]

Prints markdown.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from earmark.tags import (
    SentenceTransformerBackend,
    TagMapping,
    Vocabulary,
    build_vocabulary,
    collapse_tags,
    read_vocabulary,
)
from earmark.testing import data_root


def read_thesis(path: Path, vocabulary: Vocabulary) -> tuple[dict[str, str], list[str]]:
    """Raw tag → target name as earmark spells it (``singer songwriter`` → ``singer-songwriter``),
    and every raw tag of the file in order (lines without a target, two empty ones in the stage
    III file, count as raw tags but not as thesis mappings)."""
    mapping: dict[str, str] = {}
    raw: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tag, _, target = line.partition("\t")
        raw.append(tag)
        if not target:
            continue
        found = vocabulary.find(target)
        if found is None:
            raise ValueError(f"{path}: target {target!r} is not in targets.csv")
        mapping.setdefault(tag, found.name)
    return mapping, raw


def timed(label: str, function, timings: dict[str, tuple[float, float]]):  # type: ignore[no-untyped-def]
    """Run ``function``; record its wall-clock and process CPU seconds (all threads) under ``label``."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    timings[label] = (time.perf_counter() - start, time.process_time() - cpu)
    return result


def agreement_rows(
    thesis: dict[str, str], ours: dict[str, str], vocabulary: Vocabulary
) -> list[list[object]]:
    """Per target: thesis tags, our tags (over the same raw tags), both, Jaccard."""
    rows: list[list[object]] = []
    theirs_count = Counter(thesis.values())
    ours_count = Counter(ours[tag] for tag in thesis if ours[tag])
    both_count = Counter(target for tag, target in thesis.items() if ours[tag] == target)
    for target in vocabulary.targets:
        t, o, b = theirs_count[target.name], ours_count[target.name], both_count[target.name]
        union = t + o - b
        rows.append([target.name, target.category, t, o, b, b / union if union else float("nan")])
    return rows


def by_category(rows: list[list[object]]) -> list[list[object]]:
    sums: dict[str, list[int]] = {}
    for _, category, t, o, b, _ in rows:
        acc = sums.setdefault(str(category), [0, 0, 0])
        for i, value in enumerate((t, o, b)):
            acc[i] += int(value)  # type: ignore[call-overload]
    return [[c, t, o, b, b / (t + o - b) if t + o - b else float("nan")] for c, (t, o, b) in sums.items()]


def overall(thesis: dict[str, str], ours: dict[str, str]) -> str:
    same = sum(ours[t] == target for t, target in thesis.items())
    nowhere = sum(not ours[t] for t in thesis)
    other = len(thesis) - same - nowhere
    mapped = len(thesis) - nowhere
    return (
        f"{len(thesis)} thesis tags: same target {same} ({same / len(thesis):.1%}), another target {other} "
        f"({other / len(thesis):.1%}), no target {nowhere} ({nowhere / len(thesis):.1%}); of the "
        f"{mapped} both map, {same / mapped:.1%} agree"
    )


def table(header: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--sample", type=int, default=40, help="disagreements to print")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-embedding", action="store_true", help="rules only (no 'embed' extra needed)")
    args = parser.parse_args()
    folder = (args.data or data_root()) / "lastfm_tags"
    vocabulary = build_vocabulary(read_vocabulary(folder / "targets.csv"))
    stage_ii, raw_ii = read_thesis(folder / "sensible_tags_encoding.txt", vocabulary)
    stage_iii, raw_iii = read_thesis(folder / "word_embedding_encoding.txt", vocabulary)
    seen = set(raw_iii)
    tags = [*raw_iii, *(tag for tag in dict.fromkeys(raw_ii) if tag not in seen)]

    print("# earmark tags vs the thesis\n")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"raw tags: {len(tags)} lines ({len(set(tags))} distinct); thesis stage II maps {len(stage_ii)}, "
        f"its stage III file {len(stage_iii)}\n"
    )
    timings: dict[str, tuple[float, float]] = {}
    rules = timed("rules alone", lambda: collapse_tags(tags, vocabulary, method="rules"), timings)
    mappings: dict[str, TagMapping] = {"rules": rules}
    if not args.skip_embedding:
        with tempfile.TemporaryDirectory() as cache:
            mappings["both"] = timed(
                "both, cold (model load + embedding)",
                lambda: collapse_tags(
                    tags, vocabulary, method="both", backend=SentenceTransformerBackend(), cache_dir=cache
                ),
                timings,
            )
            timed(
                "both, warm (embeddings cached)",
                lambda: collapse_tags(
                    tags, vocabulary, method="both", backend=SentenceTransformerBackend(), cache_dir=cache
                ),
                timings,
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    rows = [[k, round(wall, 1), round(cpu, 1)] for k, (wall, cpu) in timings.items()]
    print(table(["run", "wall seconds", "process CPU seconds"], rows) + "\n")

    comparisons = [("rules", "stage II", stage_ii)]
    if "both" in mappings:
        comparisons.append(("both", "stage III file", stage_iii))
    for method, name, thesis in comparisons:
        ours = {row.tag: row.target for row in mappings[method].rows}
        stages = Counter(row.stage for row in mappings[method].rows if row.target)
        print(f"## earmark `{method}` vs the thesis's {name}\n")
        print(overall(thesis, ours) + f"; earmark's mapped tags by stage: {dict(stages)}\n")
        rows = agreement_rows(thesis, ours, vocabulary)
        header = ["thesis", "earmark", "both", "Jaccard"]
        print(table(["category", *header], by_category(rows)) + "\n")
        print(table(["target", "category", *header], rows) + "\n")

    method = "both" if "both" in mappings else "rules"
    thesis = stage_iii if method == "both" else stage_ii
    by_tag = {row.tag: row for row in mappings[method].rows}
    disagreements = [tag for tag, target in thesis.items() if by_tag[tag].target != target]
    sample = random.Random(args.seed).sample(disagreements, min(args.sample, len(disagreements)))
    print(f"## {len(sample)} of {len(disagreements)} disagreements (`{method}`, seed {args.seed})\n")
    print(
        table(
            ["tag", "thesis", "earmark", "stage/rule"],
            [[t, thesis[t], by_tag[t].target or "—", f"{by_tag[t].stage}/{by_tag[t].rule}"] for t in sample],
        )
    )


if __name__ == "__main__":
    main()

"""earmark's tag collapsing against the thesis's stage II / stage III mappings, and its speed.

The real data is ``lastfm_tags/`` of the shared data folder: ``sensible_tags_encoding.txt``
(the thesis's stage II, string rules: about 56,000 raw last.fm tags → one of 50 targets),
``word_embedding_encoding.txt`` (its stage III file: about 58,700 tags, the stage II ones plus
those its embeddings added) and ``targets.csv`` (the 50 targets and their categories). The raw
tag list is every tag of those files, in file order.

What it prints (markdown):

- timing: rules alone; both stages cold (a fresh embedding cache; with the sampled fit, only
  the tags stage III may take and the fit sample are embedded) and warm; each once (warm: the
  best of :data:`WARM_RUNS`, a single warm run varies by ±0.7 s on a shared machine), wall-clock
  and the process's CPU seconds (all threads), with the load average around them;
- the sampled fit against the fit on every tag: how far each target's threshold moves, as the
  percentile it stands at under the all-tags normal, and how many decisions change;
- a held-out check: the thesis's stage III tags split in two by tag (seeded); the margin rule's
  settings are chosen on the tuning half only (F1 of agreement: precision = same target among
  the tags both map, recall = same target among all thesis tags); every configuration is then
  reported on the other half, per target category;
- the 40 disagreements judged by hand in issue 6 (``tags_judged_sample.csv`` beside this file),
  re-scored with the new mapping.

    python benchmarks/tags_collapse.py [--data ../shared/data] [--cache DIR] [--baseline CSV]
        [--fit-sample 10000] [--split-seed 0] [--skip-embedding] [--timing-only]

``--baseline`` is a mapping CSV of an earlier earmark (``earmark tags collapse`` over the same
tag list) to set beside the new configurations on the held-out half; ``--cache`` an embedding
cache that may already hold the vectors of every tag (the fit-on-all comparison reads them).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from earmark.tags import (
    CollapseOptions,
    TagMapping,
    Vocabulary,
    build_vocabulary,
    collapse_tags,
    embed_texts,
    l2_distances,
    normalize_tags,
    percentile_assign,
    read_lexicon,
    read_vocabulary,
)
from earmark.tags.embed import fit_mask
from earmark.tags.onnx_encoder import make_backend
from earmark.testing import data_root

HERE = Path(__file__).parent
MARGINS = (0.03, 0.06, 0.1)
#: Warm runs timed; the table gives the least wall and the least CPU time of them.
WARM_RUNS = 3
MIN_SIMILARITIES = (0.45, 0.55, 0.65)
#: A small hierarchy over the thesis's targets, for the parent configurations.
PARENTS = {
    "indie rock": "rock",
    "alternative rock": "rock",
    "classic rock": "rock",
    "electronica": "electronic",
}


def read_thesis(path: Path, vocabulary: Vocabulary) -> tuple[dict[str, str], list[str]]:
    """Raw tag → target name as earmark spells it, and every raw tag of the file in order."""
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


def timed(label: str, function: Callable[[], Any], timings: dict[str, tuple[float, float]]) -> Any:
    """Run ``function``; record its wall-clock and process CPU seconds under ``label``."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    timings[label] = (time.perf_counter() - start, time.process_time() - cpu)
    return result


def table(header: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def targets_of(mapping: TagMapping) -> dict[str, set[str]]:
    """Raw tag → the set of its targets (empty for none)."""
    return {tag: {r.target for r in rows if r.target} for tag, rows in mapping.all_by_tag.items()}


def agreement(thesis: dict[str, str], ours: dict[str, set[str]], tags: list[str]) -> tuple[int, int, int]:
    """(thesis tags, tags both map, tags where the thesis's target is among ours)."""
    both = sum(1 for t in tags if ours.get(t))
    same = sum(1 for t in tags if thesis[t] in ours.get(t, set()))
    return len(tags), both, same


def scores(counts: tuple[int, int, int]) -> tuple[float, float, float]:
    """Precision (same among both mapped), recall (same among thesis tags), F1."""
    total, both, same = counts
    precision = same / both if both else float("nan")
    recall = same / total if total else float("nan")
    return precision, recall, 2 * precision * recall / (precision + recall) if same else 0.0


def held_out_rows(
    configs: dict[str, dict[str, set[str]]], thesis: dict[str, str], half: list[str], vocabulary: Vocabulary
) -> list[list[object]]:
    category = vocabulary.categories()
    rows: list[list[object]] = []
    for name, ours in configs.items():
        for group in ["all", *dict.fromkeys(category.values())]:
            tags = half if group == "all" else [t for t in half if category[thesis[t]] == group]
            total, both, same = agreement(thesis, ours, tags)
            rows.append([name, group, total, both, same, same / both if both else float("nan"), same / total])
    return rows


def fit_drift(tags: list[str], vocabulary: Vocabulary, cache: str, sample: int, seed: int) -> str:
    """Thresholds fitted on a sample vs on every usable tag (their vectors read from ``cache``)."""
    unique = [t for t in normalize_tags(tags) if "duplicate" not in t.problems]
    usable = np.array([t.usable for t in unique], dtype=bool)
    texts = list(dict.fromkeys(t.text for t in unique if t.usable))
    targets = [t.text for t in vocabulary.targets]
    vectors = embed_texts(
        targets + texts, backend=make_backend(model_dir=Path(cache) / "onnx"), cache_dir=cache
    )
    position = {text: i for i, text in enumerate(texts)}
    columns = np.array([position[t.text] for t in unique if t.usable])
    distances = l2_distances(vectors[: len(targets)], vectors[len(targets) :])[:, columns]
    full = percentile_assign(distances)
    sampled = percentile_assign(distances, fit=fit_mask(usable, sample, seed)[usable])
    z = (sampled.threshold - full.mean) / full.std
    at = np.array([NormalDist().cdf(v) * 100 for v in z])
    changed = int((full.target != sampled.target).sum())
    worst = int(np.argmax(np.abs(at - 0.1)))
    return (
        f"fit on a seeded sample of {sample} of {int(usable.sum())} usable tags (seed {seed}) vs on all: "
        f"each target's sampled threshold stands at the {at.min():.4f}–{at.max():.4f} % percentile of "
        f"its all-tags normal (nominal 0.1 %; worst {vocabulary.targets[worst].name}, {at[worst]:.4f} %; "
        f"z {z.min():.3f}…{z.max():.3f} against {NormalDist().inv_cdf(0.001):.3f}); "
        f"{changed} of {len(columns)} tag decisions differ"
    )


def changes(
    before: TagMapping, after: TagMapping, thesis: dict[str, str], half: list[str], examples: int = 6
) -> str:
    """Held-out tags whose agreement with the thesis changed between two mappings, by new stage/rule."""
    old, new = before.by_tag, after.by_tag
    found: dict[str, dict[str, list[str]]] = {"lost": {}, "won": {}}
    for tag in half:
        was, now = old[tag].target == thesis[tag], new[tag].target == thesis[tag]
        if was != now:
            row = new[tag]
            key = f"{row.stage}/{row.rule}" + (" (negated)" if "negated" in row.problems else "")
            shown = (
                f"{tag} ({thesis[tag]} → {row.target or '—'})"
                if was
                else f"{tag} ({old[tag].target or '—'} → {row.target})"
            )
            found["lost" if was else "won"].setdefault(key, []).append(shown)
    lines = []
    for kind, by_rule in found.items():
        for key, tags in sorted(by_rule.items(), key=lambda item: -len(item[1])):
            lines.append(f"- {kind} {len(tags)}, now {key}: " + "; ".join(tags[:examples]))
    return "\n".join(lines)


def judged(path: Path, configs: dict[str, dict[str, set[str]]]) -> list[list[object]]:
    """Per configuration and verdict class of issue 6: judged tags, and how many are right now."""
    with open(path, encoding="utf-8", newline="") as handle:
        sample = list(csv.DictReader(handle))
    rows: list[list[object]] = []
    for name, ours in configs.items():
        counts: dict[str, list[int]] = {}
        for item in sample:
            if item["right"] == "?":
                continue
            right = {r for r in item["right"].split(";") if r}
            got = ours[item["tag"]]
            ok = got <= right and bool(got) == bool(right)
            counts.setdefault(item["verdict"], [0, 0])[0] += 1
            counts[item["verdict"]][1] += ok
        rows += [[name, verdict, n, ok] for verdict, (n, ok) in counts.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the shared data folder")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache holding every tag's vector")
    parser.add_argument("--baseline", type=Path, default=None, help="an earlier earmark's mapping CSV")
    parser.add_argument("--fit-sample", type=int, default=CollapseOptions().fit_sample)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--skip-embedding", action="store_true", help="rules only (no 'embed' extra needed)")
    parser.add_argument("--timing-only", action="store_true", help="stop after the timing table")
    args = parser.parse_args()
    folder = (args.data or data_root()) / "lastfm_tags"
    vocabulary = build_vocabulary(read_vocabulary(folder / "targets.csv"))
    stage_ii, raw_ii = read_thesis(folder / "sensible_tags_encoding.txt", vocabulary)
    stage_iii, raw_iii = read_thesis(folder / "word_embedding_encoding.txt", vocabulary)
    seen = set(raw_iii)
    tags = [*raw_iii, *(tag for tag in dict.fromkeys(raw_ii) if tag not in seen)]
    lexicon = read_lexicon("builtin")
    load = [os.getloadavg()]
    print(
        f"# earmark tags vs the thesis (second pass)\n\n{len(tags)} raw tags, {len(stage_iii)} in stage III\n"
    )

    timings: dict[str, tuple[float, float]] = {}
    configs: dict[str, dict[str, set[str]]] = {}
    rules = timed(
        "rules alone",
        lambda: collapse_tags(tags, vocabulary, method="rules", options=CollapseOptions()),
        timings,
    )
    configs["rules"] = targets_of(rules)

    def both(cache: str | Path, targets: Vocabulary = vocabulary, **options: Any) -> TagMapping:
        opts = CollapseOptions(**{"fit_sample": args.fit_sample, **options})
        backend = make_backend(model_dir=Path(cache) / "onnx")
        return collapse_tags(tags, targets, method="both", backend=backend, cache_dir=cache, options=opts)

    cache = args.cache or Path(tempfile.mkdtemp())
    if not args.skip_embedding:
        with tempfile.TemporaryDirectory() as fresh:
            sampled = timed("both, cold (sampled fit: model load + embedding)", lambda: both(fresh), timings)
            warm: dict[str, tuple[float, float]] = {}
            for run in range(WARM_RUNS):
                timed(str(run), lambda: both(fresh), warm)
            label = f"both, warm (embeddings cached; best of {WARM_RUNS})"
            timings[label] = (min(w for w, _ in warm.values()), min(c for _, c in warm.values()))
            shutil.copytree(fresh, cache, dirs_exist_ok=True)
        configs["percentile, sampled fit (default)"] = targets_of(sampled)
        configs["percentile + lexicon"] = targets_of(both(cache, lexicon=lexicon))
        hierarchy = build_vocabulary([(t.name, t.category, PARENTS.get(t.name)) for t in vocabulary.targets])
        configs["percentile + parents (1 %)"] = targets_of(both(cache, hierarchy, parent_percentile=1.0))
    load.append(os.getloadavg())
    print(
        "load average before / after: " + " / ".join(" ".join(f"{x:.2f}" for x in avg) for avg in load) + "\n"
    )
    rows = [[k, round(wall, 1), round(cpu, 1)] for k, (wall, cpu) in timings.items()]
    print(table(["run", "wall seconds", "process CPU seconds"], rows) + "\n")
    if args.timing_only:
        return
    if args.skip_embedding:
        configs["rules + lexicon"] = targets_of(
            collapse_tags(tags, vocabulary, method="rules", options=CollapseOptions(lexicon=lexicon))
        )
    total, mapped, same = agreement(stage_ii, configs["rules"], list(stage_ii))
    print(
        f"rules vs the thesis's stage II: {total} tags, earmark maps {mapped}, same target {same} "
        f"({same / mapped:.1%} of those both map)\n"
    )

    thesis_tags = sorted(stage_iii)
    random.Random(args.split_seed).shuffle(thesis_tags)
    tune, held = thesis_tags[: len(thesis_tags) // 2], thesis_tags[len(thesis_tags) // 2 :]
    if not args.skip_embedding:
        grid: list[list[object]] = []
        best: tuple[float, float, float] | None = None
        for margin in MARGINS:
            for floor in MIN_SIMILARITIES:
                ours = targets_of(both(cache, rule="both", margin=margin, min_similarity=floor))
                precision, recall, f1 = scores(agreement(stage_iii, ours, tune))
                grid.append([margin, floor, precision, recall, f1])
                if best is None or f1 > best[0]:
                    best = (f1, margin, floor)
        assert best is not None
        _, margin, floor = best
        print(
            f"## Tuning the margin rule on the tuning half ({len(tune)} tags, split seed {args.split_seed})\n"
        )
        print(table(["margin", "min similarity", "precision", "recall", "F1"], grid) + "\n")
        print(f"chosen: margin {margin}, min similarity {floor}\n")
        for rule in ("margin", "both"):
            configs[f"{rule} ({margin}, {floor})"] = targets_of(
                both(cache, rule=rule, margin=margin, min_similarity=floor)
            )
        configs["percentile, --multi"] = targets_of(both(cache, multi=True))
    if not args.skip_embedding:
        configs["percentile, fit on all"] = targets_of(
            timed("both, fit on all (vectors from --cache)", lambda: both(cache, fit_sample=0), timings)
        )
        print(fit_drift(tags, vocabulary, str(cache), args.fit_sample, 0))
        sampled_targets, full_targets = (
            configs["percentile, sampled fit (default)"],
            configs["percentile, fit on all"],
        )
        moved = sum(1 for tag, found in sampled_targets.items() if found != full_targets[tag])
        print(f"final mappings, sampled fit vs fit on all: {moved} of {len(sampled_targets)} tags differ\n")
        rows = [[k, round(wall, 1), round(cpu, 1)] for k, (wall, cpu) in timings.items()]
        print(table(["run", "wall seconds", "process CPU seconds"], rows) + "\n")
    if args.baseline is not None:
        baseline = TagMapping.read_csv(args.baseline)
        configs = {"issue 6 (--baseline)": targets_of(baseline), **configs}
        if not args.skip_embedding:
            print("## Held-out tags whose agreement with the thesis changed, issue 6 → the default\n")
            print(changes(baseline, sampled, stage_iii, held) + "\n")
    print(f"## Held-out half ({len(held)} thesis stage III tags)\n")
    header = [
        "configuration",
        "category",
        "thesis",
        "earmark maps",
        "same",
        "same / both map",
        "same / thesis",
    ]
    print(table(header, held_out_rows(configs, stage_iii, held, vocabulary)) + "\n")
    print("## Issue 6's 40 judged disagreements, re-scored\n")
    print(
        table(
            ["configuration", "issue-6 verdict", "tags", "right now"],
            judged(HERE / "tags_judged_sample.csv", configs),
        )
    )
    for name in ("percentile, sampled fit (default)", "percentile, --multi", "rules"):
        if name in configs:
            ours = configs[name]
            with open(HERE / "tags_judged_sample.csv", encoding="utf-8", newline="") as handle:
                sample = [row["tag"] for row in csv.DictReader(handle)]
            print(f"\n{name}: " + "; ".join(f"{t} → {'+'.join(sorted(ours[t])) or '—'}" for t in sample))
    negated = Counter(r.rule for r in rules.rows if "negated" in r.problems)
    print(f"\nnegated tags (rules): {sum(negated.values())} ({dict(negated)})")


if __name__ == "__main__":
    main()

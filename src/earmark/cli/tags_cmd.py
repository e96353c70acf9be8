"""``earmark tags categorize | collapse | lookup | to-labels``: folksonomy tags to a label table."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.cli.app import app, console, out
from earmark.config import NON_NEGATIVE, Range, check_options
from earmark.data.table import write_labels
from earmark.io import write_text_atomic
from earmark.tags import (
    DECISION_RULES,
    DEFAULT_FIT_SAMPLE,
    DEFAULT_MARGIN,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_MODEL,
    DEFAULT_PERCENTILE,
    DEFAULT_SCORE_LEVEL,
    METHODS,
    STAGES,
    CollapseOptions,
    EmbeddingUnavailableError,
    MappingSummary,
    TagMapping,
    build_vocabulary,
    categorize_tags,
    collapse_tags,
    default_cache_dir,
    lookup,
    normalize_tags,
    read_clip_tags,
    read_lexicon,
    read_overrides,
    read_tag_list,
    read_vocabulary,
    summarize,
    tags_to_labels,
    write_categories,
    write_groups,
    write_prepare_table,
)
from earmark.tags.onnx_encoder import ENCODERS, make_backend

tags_app = typer.Typer(
    name="tags",
    help="Folksonomy tags: categorise, collapse onto a vocabulary, look up, turn into a label table.",
    no_args_is_help=True,
)
app.add_typer(tags_app, name="tags")

SCORE_LEVEL = Range(ge=0, le=1)  # a Jaro-Winkler similarity
ScoreLevel = Annotated[
    float, typer.Option("--score-level", help="Jaro-Winkler threshold of typo correction (inclusive)")
]


@contextmanager
def _shown_as_is() -> Iterator[None]:
    """Turn a missing embedding extra into the one-line user error ``main`` prints (escaped there)."""
    try:
        yield
    except EmbeddingUnavailableError as error:
        raise ValueError(str(error)) from error


def _counts_table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    return table


@tags_app.command("categorize")
@_shown_as_is()
def categorize_command(
    tags_file: Annotated[Path, typer.Argument(help="tag list: .csv with a 'tag' column, or one tag a line")],
    out_file: Annotated[Path | None, typer.Option("--out", help="CSV of tag, category, rule, …")] = None,
    score_level: ScoreLevel = DEFAULT_SCORE_LEVEL,
) -> None:
    """Put every tag in a category: genre, emotion, descriptive, number or junk."""
    check_options(("--score-level", score_level, SCORE_LEVEL))
    categories = categorize_tags(normalize_tags(read_tag_list(tags_file)), score_level=score_level)
    per_category = Counter(c.category for c in categories)
    per_rule = Counter(f"{c.category}/{c.rule}" for c in categories)
    out.print(
        _counts_table(
            f"{len(categories)} tags", ["category", "tags"], [[k, v] for k, v in per_category.most_common()]
        )
    )
    out.print(
        _counts_table("by rule", ["category/rule", "tags"], [[k, v] for k, v in per_rule.most_common()])
    )
    problems = Counter(p for c in categories for p in c.tag.problems)
    if problems:
        out.print(_counts_table("problems", ["problem", "tags"], [[k, v] for k, v in problems.most_common()]))
    if out_file is not None:
        console.print(f"wrote {write_categories(categories, out_file)}", highlight=False)


def _print_summary(summary: MappingSummary) -> None:
    out.print(
        f"{summary.num_mapped} of {summary.num_tags} tags collapse onto {len(summary.per_target)} targets",
        highlight=False,
    )
    out.print(
        _counts_table("per stage/rule", ["stage/rule", "tags"], [[k, v] for k, v in summary.per_rule.items()])
    )
    out.print(
        _counts_table(
            "per target category",
            ["category", "tags"],
            [[k, v] for k, v in summary.per_target_category.items()],
        )
    )
    stages = [s for s in STAGES if s != "none"]
    rows: list[list[object]] = [
        [name, *(counts.get(s, 0) for s in stages), sum(counts.values())]
        for name, counts in summary.per_target.items()
    ]
    out.print(_counts_table("per target", ["target", *stages, "total"], rows))
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@tags_app.command("collapse")
@_shown_as_is()
def collapse_command(
    tags_file: Annotated[Path, typer.Argument(help="tag list: .csv with a 'tag' column, or one tag a line")],
    vocabulary: Annotated[
        Path, typer.Option("--vocabulary", help="targets: .csv with 'tag' and 'category', or one a line")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="the mapping CSV to write")] = Path("mapping.csv"),
    method: Annotated[str, typer.Option(help=f"one of {', '.join(METHODS)}")] = "both",
    score_level: ScoreLevel = DEFAULT_SCORE_LEVEL,
    percentile: Annotated[
        float, typer.Option(help="stage III: collapse below this percentile (in %) of each target's normal")
    ] = DEFAULT_PERCENTILE,
    overrides: Annotated[
        Path | None, typer.Option(help="CSV tag,target that wins over both stages (empty target: none)")
    ] = None,
    summary_file: Annotated[
        Path | None, typer.Option("--summary", help="write the summary as Markdown")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="embedding cache (default: the user cache)")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="do not read or write the embedding cache")
    ] = False,
    model: Annotated[
        str, typer.Option(help="embedding model (packaged name or local directory)")
    ] = DEFAULT_MODEL,
    batch_size: Annotated[int, typer.Option(help="texts per embedding batch")] = 256,
    encoder: Annotated[
        str, typer.Option(help=f"run the model with {', '.join(ENCODERS)} (auto: ONNX Runtime if installed)")
    ] = "auto",
    multi: Annotated[
        bool, typer.Option("--multi", help="map a tag to every target it contains (one CSV row per target)")
    ] = False,
    rule: Annotated[
        str, typer.Option(help=f"stage III decision: {', '.join(DECISION_RULES)} (percentile: the thesis's)")
    ] = "percentile",
    margin: Annotated[
        float, typer.Option(help="margin rule: cosine lead of the nearest target over the next")
    ] = DEFAULT_MARGIN,
    min_similarity: Annotated[
        float, typer.Option(help="margin rule: least cosine similarity to the nearest target")
    ] = DEFAULT_MIN_SIMILARITY,
    fit_sample: Annotated[
        int, typer.Option(help="fit each target's normal on a seeded sample of this many tags (0: all)")
    ] = DEFAULT_FIT_SAMPLE,
    seed: Annotated[int, typer.Option(help="seed of that sample")] = 0,
    parent_percentile: Annotated[
        float,
        typer.Option(help="stage III: place a tag under its nearest target's parent below this % (0: off)"),
    ] = 0.0,
    lexicon: Annotated[
        str | None,
        typer.Option(help="styles → parent genres: 'builtin' or a file (style<TAB>parent, parent)"),
    ] = None,
) -> None:
    """Collapse tags onto a vocabulary by rules (stage II), embeddings (stage III) or both."""
    check_options(
        ("--score-level", score_level, SCORE_LEVEL),
        ("--percentile", percentile, Range(gt=0, lt=100)),
        ("--batch-size", batch_size, Range(ge=1, le=1_000_000)),
        ("--margin", margin, Range(ge=0, le=2)),
        ("--min-similarity", min_similarity, Range(ge=-1, le=1)),
        ("--fit-sample", fit_sample, NON_NEGATIVE),
        ("--seed", seed, NON_NEGATIVE),
        ("--parent-percentile", parent_percentile, Range(ge=0, lt=50)),
    )
    options = CollapseOptions(
        parent_percentile=parent_percentile,
        multi=multi,
        rule=rule,
        margin=margin,
        min_similarity=min_similarity,
        fit_sample=fit_sample,
        seed=seed,
        lexicon=read_lexicon(lexicon) if lexicon else None,
    )
    targets = build_vocabulary(read_vocabulary(vocabulary))
    needs_model = method in ("embedding", "both")
    mapping = collapse_tags(
        read_tag_list(tags_file),
        targets,
        method=method,
        score_level=score_level,
        percentile=percentile,
        overrides=read_overrides(overrides) if overrides is not None else None,
        backend=make_backend(encoder, model, batch_size=batch_size) if needs_model else None,
        cache_dir=None if no_cache else (cache_dir or default_cache_dir()),
        options=options,
    )
    summary = summarize(mapping)
    written = [mapping.write_csv(out_file)]
    if summary_file is not None:
        summary_file.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(summary_file, summary.to_markdown())
        written.append(summary_file)
    _print_summary(summary)
    console.print(f"wrote {', '.join(map(str, written))}", highlight=False)


@tags_app.command("lookup")
@_shown_as_is()
def lookup_command(
    target: Annotated[str, typer.Argument(help="the target, e.g. happy")],
    mapping_file: Annotated[
        Path, typer.Option("--mapping", help="a mapping CSV from `earmark tags collapse`")
    ],
    stage: Annotated[str | None, typer.Option(help="only this stage: override, rules or embedding")] = None,
    limit: Annotated[int, typer.Option(help="print at most this many tags (0: all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines instead of a table")] = False,
) -> None:
    """List the raw tags that went into one target, with the stage, rule and score of each."""
    check_options(("--limit", limit, NON_NEGATIVE))
    rows = lookup(TagMapping.read_csv(mapping_file), target, stage=stage)
    shown = rows if limit == 0 else rows[:limit]
    if as_json:
        for row in shown:
            out.print_json(
                json.dumps({"tag": row.tag, "stage": row.stage, "rule": row.rule, "score": row.score})
            )
    else:
        table = Table("tag", "stage", "rule", "score", "detail", title=f"{len(rows)} tags → {escape(target)}")
        for row in shown:
            score = "" if row.score is None else f"{row.score:.3f}"
            table.add_row(escape(row.tag), row.stage, row.rule, score, escape(row.detail))
        out.print(table)
    if len(shown) < len(rows):
        console.print(f"{len(rows) - len(shown)} more; use --limit 0 to see all", highlight=False)


@tags_app.command("to-labels")
@_shown_as_is()
def to_labels_command(
    clip_tags: Annotated[
        Path, typer.Argument(help="CSV clip_id,tag[,count][,path] (long) or clip_id,tags[,path] (wide)")
    ],
    mapping_file: Annotated[
        Path, typer.Option("--mapping", help="a mapping CSV from `earmark tags collapse`")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="label table to write (.csv, .csv.gz or .npz)")],
    min_count: Annotated[float, typer.Option(help="smallest summed count of a target in a clip")] = 1.0,
    source: Annotated[str, typer.Option(help="the clips' source: noisy or curated")] = "noisy",
    separator: Annotated[str, typer.Option(help="what joins the tags of a wide 'tags' cell")] = ";",
    keep_empty: Annotated[bool, typer.Option(help="keep clips left without any positive")] = False,
    groups: Annotated[
        Path | None, typer.Option(help="class,group CSV of target categories (default: <out>.groups.csv)")
    ] = None,
    prepare_table: Annotated[
        Path | None,
        typer.Option(help="also write path,labels for `earmark prepare csv` (needs a path column)"),
    ] = None,
) -> None:
    """Turn per-clip raw tags into a positives-only label table on the mapping's targets."""
    check_options(("--min-count", min_count, Range(gt=0)))
    mapping = TagMapping.read_csv(mapping_file)
    result = tags_to_labels(
        read_clip_tags(clip_tags, separator=separator),
        mapping,
        min_count=min_count,
        source=source,
        keep_empty=keep_empty,
    )
    labels = result.labels
    written = write_labels(labels, out_file)
    groups_file = write_groups(
        mapping.categories(), groups or written.with_name(f"{written.name.split('.')[0]}.groups.csv")
    )
    positives = labels.positive.sum(axis=0)
    out.print(
        _counts_table(
            f"{labels.num_clips} clips × {labels.num_classes} targets",
            ["target", "clips"],
            [[name, int(n)] for name, n in zip(labels.class_names, positives, strict=True)],
        )
    )
    console.print(
        f"dropped {len(result.dropped_clips)} clips without a positive; "
        f"{len(result.unknown_tags)} tags not in the mapping, {len(result.unmapped_tags)} mapped nowhere",
        highlight=False,
    )
    console.print(
        f"wrote {written} and {groups_file} (use with `earmark evaluate --groups`)", highlight=False
    )
    if prepare_table is not None:
        table, classes = write_prepare_table(result, prepare_table, separator=separator)
        console.print(
            f"wrote {table} and {classes}: earmark prepare csv --out DIR --set table={table} "
            f"--set classes={classes} --set 'separator={separator}' --set annotation=positives_only",
            highlight=False,
        )

"""A study's report: the recommendation, the table with intervals and budgets, a plot.

The recommendation is one line read off the paired bootstrap: an arm *beats* the baseline when
the whole interval of its difference is above zero, *loses* when it is below; otherwise the
difference is within the noise of this many test clips and seeds. When no arm beats the
baseline, the line says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.study.compare import ArmResult, StudyResults

__all__ = ["markdown", "plot", "recommendation"]


def recommendation(results: StudyResults) -> str:
    """One line: which arm to use, or that no arm beats the baseline beyond the interval."""
    percent = f"{results.confidence:.0%}"
    compared = [a for a in results.arms if a.comparison is not None and not a.reference]
    if not compared:
        return f"only the baseline {results.baseline} has finished runs: nothing to compare yet"
    winners = sorted(
        (a for a in compared if a.comparison and a.comparison["low"] > 0),
        key=lambda a: -a.comparison["difference"],  # type: ignore[index]
    )
    if winners:
        best = winners[0]
        others = f" (also beyond it: {', '.join(a.name for a in winners[1:])})" if winners[1:] else ""
        reference = next((a for a in results.arms if a.reference and a.comparison), None)
        share = _gap_share(best, reference) if reference is not None else ""
        reached = (
            f"; it reaches {share} of the reference {reference.name}'s gain" if reference and share else ""
        )
        return (
            f"use {best.name}: it beats the baseline {results.baseline} on {results.metric} beyond the "
            f"{percent} paired-bootstrap interval ({_difference(best)}){others}{reached}"
        )
    best = max(compared, key=lambda a: a.comparison["difference"])  # type: ignore[index]
    return (
        f"keep the baseline {results.baseline}: no remedy beats it on {results.metric} beyond the {percent} "
        f"paired-bootstrap interval (closest: {best.name}, {_difference(best)})"
    )


def _difference(arm: ArmResult) -> str:
    c = arm.comparison
    assert c is not None
    return f"{c['difference']:+.4f}, [{c['low']:+.4f}, {c['high']:+.4f}] over {len(c['seeds'])} seeds"


def markdown(results: StudyResults, *, title: str = "Study", preamble: str = "") -> str:
    """The report as Markdown: recommendation, table, comparisons, budgets and missing runs."""
    metrics = list(results.arms[0].values)
    reference = next((a for a in results.arms if a.reference and a.comparison), None)
    lines = [f"# {title}", "", f"**{recommendation(results)}**", ""]
    if preamble:
        lines += [preamble, ""]
    lines += [
        f"Test split: {results.num_test_clips} clips; mean ± sd over seeds (folds pooled per seed). "
        f"Δ is the arm minus the baseline {results.baseline} on the seed-mean {results.metric}, with the "
        f"{results.confidence:.0%} paired-bootstrap interval over test clips and its p-value.",
        "",
        "| arm | seeds | "
        + " | ".join(metrics)
        + f" | Δ {results.metric} | interval | p | verdict | "
        + ("share of the reference's Δ | " if reference else "")
        + "CPU s per seed | steps per seed |",
        "|---|---|" + "---|" * len(metrics) + "---|---|---|---|" + ("---|" if reference else "") + "---|---|",
    ]
    for arm in results.arms:
        cells = [_mean_sd(arm.values[m]) for m in metrics]
        c = arm.comparison
        if c is None:
            delta = ["baseline" if arm.name == results.baseline else "–", "", "", ""]
        else:
            verdict = "beats" if c["low"] > 0 else "loses" if c["high"] < 0 else "within noise"
            delta = [
                f"{c['difference']:+.4f}",
                f"[{c['low']:+.4f}, {c['high']:+.4f}]",
                f"{c['p_value']:.3f}",
                verdict,
            ]
        if reference is not None:
            delta.append(_gap_share(arm, reference))
        known = [v for v in arm.cpu_seconds if v is not None]
        cpu = _mean_sd(known, digits=0)
        if known and len(known) < len(arm.cpu_seconds):
            cpu += f" ({len(known)} of {len(arm.cpu_seconds)} seeds recorded it)"
        steps = _mean_sd([float(s) for s in arm.steps if s is not None], digits=0)
        lines.append(f"| {arm.name} | {len(arm.seeds)} | " + " | ".join([*cells, *delta, cpu, steps]) + " |")
    if results.missing_runs:
        shown = ", ".join(results.missing_runs[:20])
        more = f" and {len(results.missing_runs) - 20} more" if len(results.missing_runs) > 20 else ""
        lines += ["", f"Not finished (left out above): {shown}{more}."]
    return "\n".join(lines) + "\n"


def _gap_share(arm: ArmResult, reference: ArmResult) -> str:
    """The arm's gain over the baseline as a share of the reference's (point estimates)."""
    if arm.comparison is None or reference.comparison is None or arm.reference:
        return "reference" if arm.reference else ""
    gap = reference.comparison["difference"]
    return f"{arm.comparison['difference'] / gap:+.2f}" if gap > 0 else "–"


def _mean_sd(values: list[float], *, digits: int = 4) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def plot(results: StudyResults, path: str | Path) -> Path | None:
    """Per-seed values of the headline metric and each arm's difference with its interval.

    Returns the PNG written, or None when matplotlib (the ``plots`` extra) is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    path = Path(path)
    arms = list(results.arms)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(arms) + 1.8), dpi=110)
    for row, arm in enumerate(arms):
        values = arm.values[results.metric]
        left.scatter(values, [row] * len(values), s=18, alpha=0.6, color="tab:blue")
        if values:
            left.plot([np.mean(values)] * 2, [row - 0.3, row + 0.3], color="black")
        if arm.comparison is not None:
            c = arm.comparison
            color = "tab:green" if c["low"] > 0 else "tab:red" if c["high"] < 0 else "tab:gray"
            right.errorbar(
                c["difference"],
                row,
                xerr=[[c["difference"] - c["low"]], [c["high"] - c["difference"]]],
                fmt="o",
                color=color,
                capsize=3,
            )
    for axis in (left, right):
        axis.set_yticks(range(len(arms)), [a.name for a in arms])
        axis.invert_yaxis()
        axis.grid(axis="x", alpha=0.3)
    left.set_xlabel(f"test {results.metric} (dots: seeds, bar: mean)")
    right.axvline(0.0, color="black", linewidth=0.8)
    right.set_xlabel(f"Δ vs {results.baseline} ({results.confidence:.0%} paired bootstrap)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path

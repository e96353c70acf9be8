"""What a search writes to its run directory: the trials table, the best config, a summary, a figure.

* ``trials.csv``: ``number, state, value, <one column per searched key>, seconds, steps``; text
  cells spreadsheet-safe (:func:`~earmark.io.escape_cell`), numbers plain;
* ``best.yaml``: the best trial's resolved training config with the recipe's test folds back,
  ready for ``earmark train --config best.yaml``;
* ``summary.json``: the budget, the counts per state, the objective and the best trial;
* ``search.png``: the objective per trial with the best so far, then one panel per searched key
  (value against objective); skipped with a note when matplotlib is missing.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from earmark.config import dump_yaml
from earmark.io import CsvWriter, escape_cell, escape_cells, write_bytes_atomic
from earmark.tuning.config import TuneRecipe, trial_config
from earmark.tuning.space import Choice, Range, SearchSpace

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialRow", "search_chart", "trial_rows", "write_outputs"]


@dataclasses.dataclass(frozen=True)
class TrialRow:
    """One trial as the outputs show it; ``params`` are config values (choices decoded)."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    steps: int | None


def trial_rows(study: optuna.Study, space: SearchSpace) -> list[TrialRow]:
    """Every trial of ``study`` in number order."""
    rows = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        seconds = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        steps = trial.user_attrs.get("steps")
        rows.append(
            TrialRow(
                number=trial.number,
                state=trial.state.name.lower(),
                value=trial.value if trial.values else None,
                params=space.decode(trial.params),
                seconds=seconds,
                steps=None if steps is None else int(steps),
            )
        )
    return rows


def _text(value: Any) -> str:
    """A value as text: nothing for None, full precision for numbers, JSON for lists and mappings."""
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


def _cell(value: Any) -> str:
    """:func:`_text` as a CSV cell: text spreadsheet-safe (:func:`~earmark.io.escape_cell`), numbers plain."""
    if value is None or isinstance(value, int | float):
        return _text(value)
    return escape_cell(_text(value))


def _trials_csv(rows: Sequence[TrialRow], space: SearchSpace) -> bytes:
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.writerow(["number", "state", "value", *escape_cells(space.parameters), "seconds", "steps"])
    for row in rows:
        params = [_cell(row.params.get(name)) for name in space.parameters]
        writer.writerow(
            [
                row.number,
                escape_cell(row.state),
                _cell(row.value),
                *params,
                _cell(row.seconds),
                _cell(row.steps),
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _best(rows: Sequence[TrialRow]) -> TrialRow | None:
    complete = [r for r in rows if r.state == "complete" and r.value is not None]
    return max(complete, key=lambda r: (r.value, -r.number)) if complete else None


def write_outputs(
    study: optuna.Study, recipe: TuneRecipe, run_dir: str | Path, *, objective: str
) -> dict[str, Any]:
    """Write ``trials.csv``, ``best.yaml`` (when a trial completed), ``summary.json`` and ``search.png``.

    ``objective`` says in words what the value is (e.g. ``"valid accuracy, data.valid_fraction
    0.2"``). Returns the summary.
    """
    run_dir = Path(run_dir)
    space = recipe.tune.space
    rows = trial_rows(study, space)
    files = {"study": str(run_dir / "study.db"), "trials": str(run_dir / "trials.csv")}
    write_bytes_atomic(run_dir / "trials.csv", _trials_csv(rows, space))
    best = _best(rows)
    if best is not None:
        # the recipe's data selection, test folds included, without the search's held-out share
        config = trial_config(recipe, best.params, held_out=False)
        header = f"# earmark tune: trial {best.number} of {run_dir}, {objective} = {best.value:.6g}\n"
        write_bytes_atomic(run_dir / "best.yaml", (header + dump_yaml(config)).encode("utf-8"))
        files["best"] = str(run_dir / "best.yaml")
    notes = []
    try:
        write_bytes_atomic(run_dir / "search.png", search_chart(rows, space, recipe.metric))
        files["figure"] = str(run_dir / "search.png")
    except ImportError as error:
        notes.append(f"search.png skipped: {error}")
    states = {
        state: sum(r.state == state for r in rows) for state in ("complete", "pruned", "fail", "running")
    }
    summary = {
        "trials": recipe.tune.trials,
        "finished": states["complete"] + states["pruned"],
        "states": states,
        "metric": recipe.metric,
        "direction": recipe.tune.direction,
        "objective": objective,
        "best": None if best is None else dataclasses.asdict(best),
        "files": files,
        "notes": notes,
    }
    write_bytes_atomic(run_dir / "summary.json", json.dumps(summary, indent=2).encode("utf-8"))
    return summary


def _best_so_far(values: Sequence[float]) -> list[float]:
    best, out = -math.inf, []
    for value in values:
        best = max(best, value)
        out.append(best)
    return out


def search_chart(rows: Sequence[TrialRow], space: SearchSpace, metric: str) -> bytes:
    """PNG: the objective per trial with the best so far, then value against objective per key.

    Raises ``ImportError`` (:class:`earmark.plots.PlotsUnavailable`'s cause) without matplotlib.
    """
    from earmark.plots import PlotsUnavailable, agg_figure, png_bytes

    scored = [r for r in rows if r.value is not None and r.state in ("complete", "pruned")]
    complete = [r for r in scored if r.state == "complete"]
    panels = 1 + len(space.parameters)
    columns = min(panels, 3)
    lines = math.ceil(panels / columns)
    try:
        with agg_figure(4.0 * columns, 3.2 * lines) as figure:
            axes = figure.subplots(lines, columns, squeeze=False).ravel()
            _history_panel(axes[0], scored, complete, metric)
            for panel, (name, parameter) in zip(axes[1:], space.parameters.items(), strict=False):
                _parameter_panel(panel, name, parameter, scored, metric)
            for unused in axes[panels:]:
                unused.set_visible(False)
            return png_bytes(figure)
    except PlotsUnavailable as error:
        raise ImportError(str(error)) from error


def _history_panel(axes: Any, scored: Sequence[TrialRow], complete: Sequence[TrialRow], metric: str) -> None:
    from matplotlib.ticker import MaxNLocator

    pruned = [r for r in scored if r.state == "pruned"]
    axes.scatter(
        [r.number for r in complete], [r.value for r in complete], color="#4c72b0", s=16, label="complete"
    )
    if pruned:
        axes.scatter(
            [r.number for r in pruned],
            [r.value for r in pruned],
            color="#999999",
            marker="x",
            s=16,
            label="pruned",
        )
    if complete:
        best = _best_so_far([float(r.value) for r in complete if r.value is not None])
        axes.step([r.number for r in complete], best, where="post", color="#dd8452", label="best so far")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel(f"validation {metric}")
    axes.set_title("objective per trial", fontsize=9)
    axes.legend(fontsize=7)


def _parameter_panel(
    axes: Any, name: str, parameter: Range | Choice, scored: Sequence[TrialRow], metric: str
) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    drawn = [(r.params[name], r.value) for r in scored if name in r.params]
    if isinstance(parameter, Choice):
        labels = [_text(c) for c in parameter.choices]
        positions = {label: i for i, label in enumerate(labels)}
        jitter = np.linspace(-0.15, 0.15, num=max(len(drawn), 1))
        x = [positions[_text(v)] + jitter[i] for i, (v, _) in enumerate(drawn)]
        axes.set_xticks(range(len(labels)), labels, fontsize=7)
        axes.set_xlim(-0.5, len(labels) - 0.5)
    else:
        x = [float(v) for v, _ in drawn]
        low, high = float(parameter.low), float(parameter.high)
        if parameter.log:
            axes.set_xlim(low / 1.2, high * 1.2)  # the whole range searched
            axes.set_xscale("log")
            # plain tick labels: the figures are drawn without mathtext
            axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axes.xaxis.set_minor_formatter(NullFormatter())
        else:
            margin = 0.04 * (high - low)
            axes.set_xlim(low - margin, high + margin)
        if parameter.integer:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.scatter(x, [value for _, value in drawn], color="#4c72b0", s=16)
    axes.set_xlabel(name)
    axes.set_ylabel(metric)
    axes.set_title(name, fontsize=9)

"""``earmark write-default-config`` and ``earmark list``: every option, its default and meaning.

Both read the catalogue (:mod:`earmark.cli.catalog`), so neither imports torch.
``write-default-config --kind prepare|train|pipeline [NAME]`` writes a complete YAML with a
comment above every key (its meaning and type) that the command it is for loads back unchanged:
``NAME`` is the layout for ``prepare``, the model for ``train`` (``--strategy`` picks the
strategy) and the stage kind for ``pipeline``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from earmark.cli.app import app, console, out
from earmark.cli.catalog import (
    KINDS,
    OptionInfo,
    describe_options,
    flow_yaml,
    load_catalog,
    options_of,
    options_table,
)
from earmark.cli.prepare_cmd import PrepareConfig
from earmark.config import ConfigError, to_dict
from earmark.io import write_text_atomic

__all__ = ["DEFAULT_NAMES", "commented_yaml", "default_config"]

#: kind → the NAME used when none is given.
DEFAULT_NAMES: dict[str, str] = {"prepare": "folder", "train": "cnn", "pipeline": "train"}

#: Placeholders for options that have no default, by name (any other takes ``path/to/<name>``).
_PLACEHOLDERS: dict[str, str] = {
    "root": "path/to/audio",
    "pattern": r"^(?P<label>[^_]+)_",  # files: the class is the file name up to its first '_'
    "model_from": "train",
    "prepared": "path/to/prepared",
}

Describe = Callable[[tuple[str, ...]], OptionInfo | None]


def _comment(option: OptionInfo | None, pad: str) -> list[str]:
    if option is None:
        return []
    kind = f"{option.type}, required" if option.required else option.type
    text = f"{option.meaning} ({kind})" if option.meaning else f"({kind})"
    return [f"{pad}# {text}"]


def commented_yaml(
    data: Mapping[str, Any], describe: Describe, path: tuple[str, ...] = (), depth: int = 0
) -> str:
    """YAML of ``data`` with ``describe(key path)``'s meaning and type as a comment above each key.

    Non-empty mappings nest in block style, a list of mappings becomes a block list, any other
    value is written in flow style on its key's line.
    """
    pad = "  " * depth
    lines: list[str] = []
    for key, value in data.items():
        lines += _comment(describe((*path, key)), pad)
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{key}:")
            lines.append(commented_yaml(value, describe, (*path, key), depth + 1).rstrip("\n"))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lines.append(f"{pad}{key}:")
            for index, item in enumerate(value):
                block = commented_yaml(item, describe, (*path, key, str(index)), depth + 2).rstrip("\n")
                first = len(pad) + 4
                rows = block.splitlines()
                start = next(i for i, row in enumerate(rows) if not row.lstrip().startswith("#"))
                rows[start] = f"{pad}  - {rows[start][first:]}"
                lines += rows
        else:
            lines.append(f"{pad}{key}: {flow_yaml(value)}")
    return "\n".join(lines) + "\n"


def _filled(kind: str, name: str) -> dict[str, Any]:
    """The options of ``name`` in ``kind`` at their defaults, required ones given a placeholder."""
    return {
        o.name: _PLACEHOLDERS.get(o.name, f"path/to/{o.name}") if o.required else o.default
        for o in options_of(kind, name)
    }


def _fields_of(config_class: type[Any]) -> dict[str, OptionInfo]:
    return {o.name: o for o in describe_options(config_class)}


def _describer(tables: Mapping[tuple[str, ...], Mapping[str, OptionInfo]]) -> Describe:
    """Meaning of a key path: looked up in the table of its parent path."""

    def describe(path: tuple[str, ...]) -> OptionInfo | None:
        return tables.get(path[:-1], {}).get(path[-1])

    return describe


def default_config(
    kind: str, name: str | None = None, *, strategy: str = "supervised"
) -> tuple[dict[str, Any], Describe]:
    """The default config of ``kind`` (``prepare``, ``train``, ``pipeline``) as data, and its meanings."""
    from earmark.training.config import DataConfig, OptimConfig, TrainConfig

    name = name or DEFAULT_NAMES.get(kind, "")
    if kind == "prepare":
        frontend = PrepareConfig().frontend
        data = to_dict(PrepareConfig(layout=name, options=_filled("loaders", name), frontend=frontend))
        return data, _describer(
            {
                (): _fields_of(PrepareConfig),
                ("options",): {o.name: o for o in options_of("loaders", name)},
                ("frontend",): {o.name: o for o in options_of("frontends", data["frontend"]["name"])},
            }
        )
    if kind == "train":
        config = TrainConfig(
            model=name,
            model_options=_filled("models", name),
            strategy=strategy,
            strategy_options=_filled("strategies", strategy),
        )
        return to_dict(config), _describer(
            {
                (): _fields_of(TrainConfig),
                ("data",): _fields_of(DataConfig),
                ("optim",): _fields_of(OptimConfig),
                ("model_options",): {o.name: o for o in options_of("models", name)},
                ("strategy_options",): {o.name: o for o in options_of("strategies", strategy)},
            }
        )
    if kind == "pipeline":
        stages = [{"name": "train", "kind": "train", **_filled("stages", "train")}]
        if name != "train":
            stages.append({"name": name, "kind": name, **_filled("stages", name)})
        if name == "filter":
            stages[-1]["model_from"] = "train"  # a filter scores with a trained stage
        if name == "relabel":
            stages[-1]["edits"] = ["path/to/label-edits.csv"]  # a relabel stage changes something
        recipe: dict[str, Any] = {
            "prepared": "path/to/prepared",
            "labels": None,
            "out": "runs/pipelines/default",
            "train": {},
            "stages": stages,
        }
        top = {
            "prepared": OptionInfo(
                "prepared", "str", None, True, "The prepared directory every stage reads."
            ),
            "labels": OptionInfo(
                "labels", "str or null", None, False, "A label table replacing the prepared one."
            ),
            "out": OptionInfo("out", "str", None, False, "Where the stages' run directories go."),
            "train": OptionInfo(
                "train",
                "mapping",
                {},
                False,
                "The training config every train stage starts from (--kind train).",
            ),
            "stages": OptionInfo("stages", "list", None, True, "The stages, run in order."),
        }
        kinds = {"name": OptionInfo("name", "str", None, True, "The stage's name and run directory.")}
        return recipe, _stage_describer(top, kinds, [stage["kind"] for stage in stages])
    raise ConfigError(f"unknown config kind {kind!r}; known: {', '.join(DEFAULT_NAMES)}")


def _stage_describer(
    top: Mapping[str, OptionInfo], common: Mapping[str, OptionInfo], kinds: list[str]
) -> Describe:
    """Meanings of a recipe's keys: ``stages.<i>.<key>`` from the catalogue of stage ``i``'s kind."""
    catalog = load_catalog()["stages"]

    def describe(path: tuple[str, ...]) -> OptionInfo | None:
        if len(path) == 1:
            return top.get(path[0])
        if path[0] == "stages" and len(path) == 3:
            if path[2] == "kind":
                return OptionInfo("kind", "one of " + ", ".join(catalog), None, True, "What the stage does.")
            options = {raw["name"]: OptionInfo(**raw) for raw in catalog[kinds[int(path[1])]]["options"]}
            return options.get(path[2]) or common.get(path[2])
        return None

    return describe


@app.command("write-default-config")
def write_default_config(
    path: Annotated[Path, typer.Argument(help="YAML file to write ('-' prints it)")],
    name: Annotated[
        str | None,
        typer.Argument(
            help="the layout (prepare), model (train) or stage kind (pipeline)", show_default=False
        ),
    ] = None,
    kind: Annotated[str, typer.Option(help=f"which config: {', '.join(DEFAULT_NAMES)}")] = "prepare",
    strategy: Annotated[str, typer.Option(help="the strategy of a train config")] = "supervised",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write the default config of a command: every key with its default and, above it, its meaning."""
    data, describe = default_config(kind, name, strategy=strategy)
    text = commented_yaml(data, describe)
    if str(path) == "-":
        typer.echo(text, nl=False)
        return
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    write_text_atomic(path, text)
    console.print(f"wrote the default {kind} config to {path}")


@app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Argument(help=f"one of {', '.join(KINDS)}", show_default=False)] = None,
    name: Annotated[str | None, typer.Argument(help="show this one's options", show_default=False)] = None,
) -> None:
    """List the registered components of a kind, or one component's options."""
    catalog = load_catalog()
    if kind is None:
        table = Table("kind", "what", "names", title="registered components")
        for known, what in KINDS.items():
            table.add_row(known, what, ", ".join(catalog[known]))
        out.print(table)
        return
    if kind not in catalog:
        raise ConfigError(f"unknown kind {kind!r}; known kinds: {', '.join(catalog)}")
    if name is None:
        table = Table("name", "what it is", "options", title=kind)
        for entry_name, entry in catalog[kind].items():
            table.add_row(entry_name, Text(entry["summary"]), str(len(entry["options"])))
        out.print(table)
        return
    out.print(options_table(kind, name))

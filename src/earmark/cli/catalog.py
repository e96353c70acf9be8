"""What every registered component is and which options it takes: one source for help and docs.

Each registry (loaders, front-ends, models, strategies, augmentations, pipeline stages) holds
config dataclasses; :func:`describe_options` reads each option's name, type, default and a
one-line meaning from its dataclass and docstring (a ``Parameters`` / ``Attributes`` entry, a
sentence naming the option, or the comment after the field). :func:`build_catalog` collects
them all; it imports the models, hence torch, so the result is kept in ``catalog.json`` beside
this module, which ``earmark list``, ``earmark prepare LAYOUT --help`` and
``write-default-config`` read without importing torch. The README's reference section is
rendered from it too. A test fails when either drifts from the code; regenerate both with::

    python -m earmark.cli.catalog
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table
from rich.text import Text

from earmark.config import ConfigError
from earmark.io import write_text_atomic
from earmark.registry import OptionInfo, describe_options, one_line, type_text

__all__ = [
    "CATALOG_PATH",
    "KINDS",
    "OptionInfo",
    "build_catalog",
    "describe_options",
    "flow_yaml",
    "load_catalog",
    "options_of",
    "options_table",
    "render_markdown",
    "type_text",
]

CATALOG_PATH = Path(__file__).with_name("catalog.json")

#: Kind (as ``earmark list`` takes it) → what one entry is.
KINDS: dict[str, str] = {
    "loaders": "data-set layout (earmark prepare LAYOUT)",
    "frontends": "front-end (prepare --frontend-set name=...)",
    "models": "model (train model=...)",
    "strategies": "strategy (train strategy=...)",
    "augmentations": "augmentation (train augment.NAME...)",
    "stages": "pipeline stage kind (a recipe's stages: kind=...)",
}


def _registries() -> dict[str, dict[str, tuple[str, type[Any] | None]]]:
    """Each kind's names with their summary and config class, from the live registries (imports torch)."""
    from earmark.augment import AUGMENTATIONS
    from earmark.data.loaders import LOADERS
    from earmark.features import FRONTENDS
    from earmark.models import MODELS
    from earmark.pipeline.stages import KINDS as STAGE_KINDS
    from earmark.registry import Registry
    from earmark.strategies import STRATEGIES

    def entries(registry: Registry[Any]) -> dict[str, tuple[str, type[Any] | None]]:
        return {
            name: (registry.entry(name).summary, registry.entry(name).config_class)
            for name in sorted(registry)
        }

    found: dict[str, dict[str, tuple[str, type[Any] | None]]] = {
        "loaders": entries(LOADERS),
        "frontends": entries(FRONTENDS),
        "models": entries(MODELS),
        "strategies": entries(STRATEGIES),
        "augmentations": entries(AUGMENTATIONS),
        "stages": {
            name: (inspect.cleandoc(cls.__doc__ or "").split("\n")[0], cls)
            for name, cls in sorted(STAGE_KINDS.items())
        },
    }
    return found


def build_catalog() -> dict[str, dict[str, dict[str, Any]]]:
    """Each kind's names with ``{"summary", "options": [option as a dict]}``, from the live registries."""
    return {
        kind: {
            name: {
                "summary": one_line(summary),
                "options": [dataclasses.asdict(o) for o in describe_options(config_class)],
            }
            for name, (summary, config_class) in entries.items()
        }
        for kind, entries in _registries().items()
    }


@cache
def load_catalog() -> dict[str, dict[str, dict[str, Any]]]:
    """The catalogue as written by ``python -m earmark.cli.catalog`` (no torch needed)."""
    return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def options_of(kind: str, name: str) -> list[OptionInfo]:
    """The options of ``name`` in ``kind``; unknown ones raise naming the known ones."""
    catalog = load_catalog()
    if kind not in catalog:
        raise ConfigError(f"unknown kind {kind!r}; known kinds: {', '.join(catalog)}")
    if name not in catalog[kind]:
        raise ConfigError(f"unknown {kind[:-1]} {name!r}; known {kind}: {', '.join(catalog[kind])}")
    return [OptionInfo(**o) for o in catalog[kind][name]["options"]]


def options_table(kind: str, name: str) -> Table:
    """A table of one component's options: name, type, default and meaning."""
    table = Table("option", "type", "default", "meaning", title=f"{kind[:-1]} {name}: options")
    for option in options_of(kind, name):
        # plain text cells: a default such as ``[curated, noisy]`` is not console markup
        table.add_row(*map(Text, (option.name, option.type, _default_text(option), option.meaning)))
    return table


def flow_yaml(value: Any) -> str:
    """One value as a YAML flow scalar or collection (``[1, 2]``, ``{}``, ``'a: b'``)."""
    text = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True, width=10**9).strip()
    return text[1:-1]


def _default_text(option: OptionInfo) -> str:
    return "required" if option.required else flow_yaml(option.default)


def render_markdown(catalog: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The README's reference section: one table of options per component."""
    lines = [
        "Generated from the registries by `python -m earmark.cli.catalog`; `earmark list KIND NAME`",
        "shows the same in a terminal.",
    ]
    for kind, entries in catalog.items():
        lines += ["", f"### {kind.capitalize()}", ""]
        for name, entry in entries.items():
            lines += [f"**`{name}`**: {entry['summary']}", ""]
            if not entry["options"]:
                lines += ["No options.", ""]
                continue
            lines += ["| option | type | default | meaning |", "|---|---|---|---|"]
            for raw in entry["options"]:
                option = OptionInfo(**raw)
                cells = [f"`{option.name}`", option.type, f"`{_default_text(option)}`", option.meaning]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


README_START = "<!-- reference:start (generated by python -m earmark.cli.catalog; do not edit) -->"
README_END = "<!-- reference:end -->"


def replace_reference(readme: str, section: str) -> str:
    """``readme`` with the text between the reference markers replaced by ``section``."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ConfigError(f"the README has no {README_START} ... {README_END} markers")
    return readme[: start + len(README_START)] + "\n" + section + readme[end:]


def main() -> None:
    """Write ``catalog.json`` and the README's reference section from the live registries."""
    catalog = build_catalog()
    write_text_atomic(CATALOG_PATH, json.dumps(catalog, indent=1, ensure_ascii=False) + "\n")
    readme = Path(__file__).resolve().parents[3] / "README.md"
    if readme.is_file():
        write_text_atomic(
            readme, replace_reference(readme.read_text(encoding="utf-8"), render_markdown(catalog))
        )
    print(f"wrote {CATALOG_PATH} and the reference section of {readme}")


if __name__ == "__main__":
    main()

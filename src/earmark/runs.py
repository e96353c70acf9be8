"""Reading a finished run: its spec, its trained model and its config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import nn

from earmark.config import from_dict, load_yaml
from earmark.spec import TaggingSpec
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig

__all__ = ["LoadedRun", "load_run"]


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run's spec, its config and its best (or last) model in eval mode."""

    directory: Path
    spec: TaggingSpec
    config: TrainConfig
    model: nn.Module
    checkpoint: Path


def load_run(directory: str | Path, *, checkpoint: str = "best") -> LoadedRun:
    """Load ``directory``'s model from ``checkpoints/<checkpoint>.pt`` (``last`` when no best)."""
    from earmark.models import build_model

    directory = Path(directory)
    if not (directory / "config.yaml").is_file():
        raise FileNotFoundError(f"{directory} is not a training run (no config.yaml)")
    config = from_dict(TrainConfig, load_yaml(directory / "config.yaml"))
    path = directory / "checkpoints" / f"{checkpoint}.pt"
    if not path.exists() and checkpoint == "best":
        path = directory / "checkpoints" / "last.pt"
    payload = load_checkpoint(path)
    spec: TaggingSpec = payload["spec"]
    model = build_model(config.model, spec, config.model_options)
    model.load_state_dict(payload["model"])
    model.eval()
    return LoadedRun(directory, spec, config, model, path)

"""Reading a finished run: its spec, its trained model, its config and how it scores clips."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from earmark.config import from_dict, load_yaml
from earmark.features.frontend import frames_per_second
from earmark.inference import Segmenting
from earmark.spec import TaggingSpec
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig

__all__ = ["LoadedRun", "load_run"]


@dataclasses.dataclass(frozen=True)
class LoadedRun:
    """A run's spec, its config, its best (or last) model in eval mode and its segmenting."""

    directory: Path
    spec: TaggingSpec
    config: TrainConfig
    model: nn.Module
    checkpoint: Path
    segmenting: Segmenting

    def score(self, clips: Iterable[np.ndarray], *, device: torch.device | str | None = None) -> np.ndarray:
        """Clip probabilities ``(clips, classes)`` for clips of frames ``(num_frames, dim)``.

        Cut and aggregated exactly as the run was validated (its stored :class:`Segmenting`).
        """
        if device is None:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return self.segmenting.score(self.model.to(device), clips, device=device)


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
    if "segmenting" in payload:
        segmenting = Segmenting.from_dict(payload["segmenting"])
    else:  # a checkpoint written before the segmenting was stored: resolve it from the config
        segmenting = config.segmenting(frames_per_second(spec.frontend))
    return LoadedRun(directory, spec, config, model, path, segmenting)

"""Reading a finished run: its spec, its trained model, its config and how it scores clips."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from earmark.config import ConfigError, dump_yaml, from_dict, load_yaml
from earmark.features.frontend import frames_per_second
from earmark.inference import Segmenting
from earmark.spec import TaggingSpec
from earmark.training.checkpoint import load_checkpoint
from earmark.training.config import TrainConfig

__all__ = ["LoadedRun", "checkpoint_path", "load_initial_weights", "load_run", "model_checkpoint"]


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


def model_checkpoint(
    spec: TaggingSpec, config: TrainConfig, segmenting: Segmenting, model: nn.Module, **extra: Any
) -> dict[str, Any]:
    """What a checkpoint holds for :func:`load_run`: spec, resolved config, segmenting, weights.

    ``extra`` adds entries (the step, the validation value; a resumable state's optimizer...).
    """
    return {
        "spec": spec.to_dict(),
        "config": dump_yaml(config),
        "segmenting": segmenting.to_dict(),
        "model": model.state_dict(),
        **extra,
    }


def checkpoint_path(run: Path, checkpoint: str = "best") -> Path:
    """``run``'s ``checkpoints/<checkpoint>.pt``.

    For ``best``, ``last.pt`` when there is no best (a run without validation keeps only its last).
    """
    path = run / "checkpoints" / f"{checkpoint}.pt"
    if checkpoint == "best" and not path.exists():
        path = run / "checkpoints" / "last.pt"
    return path


def load_run(directory: str | Path, *, checkpoint: str = "best") -> LoadedRun:
    """Load a run's model from ``checkpoints/<checkpoint>.pt`` (``last`` when there is no best).

    ``directory`` is a run directory, or a checkpoint file on its own: a checkpoint carries its
    spec, its resolved config and its segmenting, so it alone suffices to predict. (Checkpoints
    written before the config was stored in them read the run's ``config.yaml``.)
    """
    from earmark.models import build_model

    directory = Path(directory)
    if directory.is_file():
        path = directory
    else:
        if not (directory / "checkpoints").is_dir() and not (directory / "config.yaml").is_file():
            raise FileNotFoundError(f"{directory} is not a training run (no checkpoints/, no config.yaml)")
        path = checkpoint_path(directory, checkpoint)
    payload = load_checkpoint(path)
    if "config" in payload:
        config = from_dict(TrainConfig, yaml.safe_load(payload["config"]))
    elif (directory / "config.yaml").is_file():
        config = from_dict(TrainConfig, load_yaml(directory / "config.yaml"))
    else:
        raise ValueError(f"{path} holds no config and there is no config.yaml beside it")
    spec: TaggingSpec = payload["spec"]
    model = build_model(config.model, spec, config.model_options)
    model.load_state_dict(payload["model"])
    model.eval()
    if "segmenting" in payload:
        segmenting = Segmenting.from_dict(payload["segmenting"])
    else:  # a checkpoint written before the segmenting was stored: resolve it from the config
        segmenting = config.segmenting(frames_per_second(spec.frontend))
    return LoadedRun(directory, spec, config, model, path, segmenting)


def load_initial_weights(model: nn.Module, run: Path, spec: TaggingSpec, model_name: str) -> None:
    """Load into ``model`` the weights of run ``run``'s best checkpoint (its last without one).

    ``init_from``: the stored spec must match ``spec`` but for the segment length, and the
    weights must fit ``model`` (built as ``model_name``); otherwise ``ConfigError`` names both.
    """
    path = checkpoint_path(run, "best")
    if not path.exists():
        raise ConfigError(f"init_from: {run} has no checkpoints/best.pt or checkpoints/last.pt")
    payload = load_checkpoint(path)
    stored: TaggingSpec = payload["spec"]
    stored.check_compatible(
        dataclasses.replace(spec, segment_frames=stored.segment_frames), what=f"init_from {path}"
    )
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as error:
        raise ConfigError(
            f"init_from: the weights in {path} do not fit model {model_name!r} with these "
            f"model_options ({str(error).splitlines()[0]})"
        ) from error

"""The training config: frozen dataclasses, defaults in code, loaded strictly from YAML."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from earmark.config import ConfigError

__all__ = ["DataConfig", "OptimConfig", "TrainConfig"]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which prepared data to train, validate and test on.

    ``prepared`` is a directory written by ``earmark prepare``; ``labels`` optionally replaces
    its label table (e.g. an enhanced or simulated one). Folds select clips; an empty tuple
    means "not used" for valid / test, and "every fold not used elsewhere" for train.
    ``valid_fraction`` holds out a seeded share of the training clips when no valid folds are set.
    """

    prepared: str = ""
    labels: str | None = None
    train_folds: tuple[int, ...] = ()
    valid_folds: tuple[int, ...] = ()
    test_folds: tuple[int, ...] = ()
    train_sources: tuple[str, ...] = ()
    valid_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"data.valid_fraction must be in [0, 1), got {self.valid_fraction}")
        overlap = (set(self.train_folds) & set(self.valid_folds + self.test_folds)) | (
            set(self.valid_folds) & set(self.test_folds)
        )
        if overlap:
            raise ConfigError(f"fold {sorted(overlap)[0]} is in more than one of train / valid / test")


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimizer and schedule: learning rate warm-up, then cosine / step decay or constant."""

    name: Literal["adam", "adamw"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 100
    step_every: int = 1000
    step_gamma: float = 0.5
    min_lr_ratio: float = 0.01
    grad_clip_norm: float | None = 5.0

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be positive, got {self.lr}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; every run writes this back, resolved."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: str = "cnn"
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    strategy: str = "supervised"
    strategy_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: str | None = None  # an earlier run: start from its best (else last) model weights
    augment: dict[str, Any] = dataclasses.field(default_factory=dict)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    segment_frames: int = 128
    crop: Literal["head", "random"] = "random"
    sampler: Literal["shuffle", "balanced", "labeled_unlabeled"] = "shuffle"
    labeled_per_batch: int = 0  # with sampler labeled_unlabeled; 0 = half the batch
    batch_size: int = 32
    epochs: int = 30
    max_steps: int | None = None
    max_minutes: float | None = None
    validate_every: int = 0
    checkpoint_every: int = 200
    metric: str = "lwlrap"
    patience: int = 0
    predict_hop_frames: int | None = None
    predict_aggregate: Literal["mean_probability", "mean_logit", "max"] = "mean_probability"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_workers: int = 0
    sync_batchnorm: bool = True
    tensorboard: bool = False
    report: bool = True  # write report/report.html and curves.png at the end (off for sweeps)

    def __post_init__(self) -> None:
        for name in ("segment_frames", "batch_size", "epochs", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.validate_every < 0 or self.patience < 0:
            raise ConfigError("validate_every and patience must be >= 0")

"""The training config: frozen dataclasses, defaults in code, loaded strictly from YAML."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Literal

from earmark.config import ConfigError
from earmark.inference import Segmenting

__all__ = ["DEFAULT_SEGMENT_FRAMES", "DataConfig", "OptimConfig", "TrainConfig", "check_group_pattern"]

DEFAULT_SEGMENT_FRAMES = 128


@dataclasses.dataclass(frozen=True)
class DataConfig:
    r"""Which prepared data to train, validate and test on.

    ``prepared`` is a directory written by ``earmark prepare``; ``labels`` optionally replaces
    its label table (e.g. an enhanced or simulated one). Folds select clips; an empty tuple
    means "not used" for valid / test, and "every fold not used elsewhere" for train.
    ``valid_fraction`` holds out a seeded share of the training clips when no valid folds are set;
    with ``group_pattern`` (a regex whose first group keys a recording, e.g. ``'^(\d+-\d+)-'``
    for ESC's twin takes) whole groups are held out, so no recording straddles train and valid.
    """

    prepared: str = ""
    labels: str | None = None
    train_folds: tuple[int, ...] = ()
    valid_folds: tuple[int, ...] = ()
    test_folds: tuple[int, ...] = ()
    train_sources: tuple[str, ...] = ()
    valid_fraction: float = 0.0
    group_pattern: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError(f"data.valid_fraction must be in [0, 1), got {self.valid_fraction}")
        if self.group_pattern is not None:
            check_group_pattern(self.group_pattern, "data.group_pattern")
        overlap = (set(self.train_folds) & set(self.valid_folds + self.test_folds)) | (
            set(self.valid_folds) & set(self.test_folds)
        )
        if overlap:
            raise ConfigError(f"fold {sorted(overlap)[0]} is in more than one of train / valid / test")


def check_group_pattern(pattern: str, key: str) -> None:
    """``ConfigError`` naming ``key`` unless ``pattern`` compiles and has a capturing group."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"{key} is not a valid regular expression ({error}): {pattern!r}") from error
    if compiled.groups < 1:
        raise ConfigError(
            f"{key} needs a capturing group that keys a recording, e.g. '^(\\d+-\\d+)-'; got {pattern!r}"
        )


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
        checks = (
            ("lr", self.lr > 0, "positive"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("step_every", self.step_every > 0, "positive"),
            ("step_gamma", 0 < self.step_gamma <= 1, "in (0, 1]"),
            ("min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "in [0, 1]"),
            (
                "grad_clip_norm",
                self.grad_clip_norm is None or self.grad_clip_norm > 0,
                "positive (or null: off)",
            ),
        )
        for name, holds, rule in checks:
            value = getattr(self, name)
            if not holds or (isinstance(value, float) and not math.isfinite(value)):
                raise ConfigError(f"optim.{name} must be {rule}, got {value}")


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
    segment_frames: int | None = None  # default 128 frames; or give segment_seconds
    segment_seconds: float | None = None
    crop: Literal["head", "random"] = "random"
    short_crop_share: float = 0.0  # share of training crops cut shorter, down to short_crop_min_seconds
    short_crop_min_seconds: float = 0.2
    sampler: Literal["shuffle", "balanced", "labeled_unlabeled"] = "shuffle"
    labeled_per_batch: int = 0  # with sampler labeled_unlabeled; 0 = half the batch
    batch_size: int = 32
    epochs: int = 30
    max_steps: int | None = None
    max_minutes: float | None = None  # stop after this much training; a cosine decays by time too
    validate_every: int = 0
    checkpoint_every: int = 200
    metric: str = "lwlrap"
    patience: int = 0
    predict_hop_frames: int | None = None  # default half a segment; or give hop_seconds
    hop_seconds: float | None = None
    predict_aggregate: Literal["mean_probability", "mean_logit", "max"] = "mean_probability"
    predict_coverage: Literal["auto", "cover", "head"] = "auto"  # auto: head when crop is head
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    compile: bool = False  # torch.compile the training model (see benchmarks/train_speed.py)
    num_workers: int = 0
    sync_batchnorm: bool = True
    tensorboard: bool = False
    report: bool = True  # write report/report.html and curves.png at the end (off for sweeps)

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("segment_frames", "segment_seconds", "predict_hop_frames", "hop_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        for frames, seconds in (("segment_frames", "segment_seconds"), ("predict_hop_frames", "hop_seconds")):
            if getattr(self, frames) is not None and getattr(self, seconds) is not None:
                raise ConfigError(f"give {frames} or {seconds}, not both")
        if self.validate_every < 0 or self.patience < 0 or self.num_workers < 0 or self.labeled_per_batch < 0:
            raise ConfigError("validate_every, patience, num_workers and labeled_per_batch must be >= 0")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"max_steps must be positive (or null: no limit), got {self.max_steps}")
        if self.max_minutes is not None and not (self.max_minutes > 0 and math.isfinite(self.max_minutes)):
            raise ConfigError(f"max_minutes must be positive (or null: no limit), got {self.max_minutes}")
        if not 0.0 <= self.short_crop_share <= 1.0:
            raise ConfigError(f"short_crop_share must be in [0, 1], got {self.short_crop_share}")
        if self.short_crop_min_seconds <= 0:
            raise ConfigError(f"short_crop_min_seconds must be positive, got {self.short_crop_min_seconds}")

    def segmenting(self, frames_per_second: float) -> Segmenting:
        """The run's segment settings in frames of a front-end with ``frames_per_second``.

        Seconds are rounded to whole frames (at least one); without either length a segment
        is 128 frames, and the prediction hop is half a segment.
        """
        if self.segment_seconds is not None:
            segment = max(1, round(self.segment_seconds * frames_per_second))
        else:
            segment = self.segment_frames or DEFAULT_SEGMENT_FRAMES
        if self.hop_seconds is not None:
            hop = max(1, round(self.hop_seconds * frames_per_second))
        else:
            hop = self.predict_hop_frames or max(1, segment // 2)
        coverage = self.predict_coverage
        if coverage == "auto":
            coverage = "head" if self.crop == "head" else "cover"
        return Segmenting(segment, hop, self.predict_aggregate, coverage)

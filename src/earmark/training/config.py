"""The training config: frozen dataclasses, defaults in code, loaded strictly from YAML."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from earmark.config import (
    ConfigError,
    NonNegativeInt,
    PositiveInt,
    Probability,
    Range,
    check_ranges,
)
from earmark.inference import Segmenting

__all__ = [
    "DEFAULT_SEGMENT_FRAMES",
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "check_device",
    "check_group_pattern",
]

DEFAULT_SEGMENT_FRAMES = 128

#: A duration in seconds, up to an hour.
Seconds = Annotated[float, Range(gt=0, le=3600)]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    r"""Which prepared data to train, validate and test on.

    ``prepared`` is a directory written by ``earmark prepare``; ``labels`` optionally replaces
    its label table (e.g. an enhanced or simulated one). Folds select clips; an empty tuple
    means "not used" for valid / test, and "every fold not used elsewhere" for train.
    ``valid_fraction`` holds out a seeded share of the training clips when no valid folds are set;
    with ``group_pattern`` (a regex whose first group keys a recording, e.g. ``'^(\d+-\d+)-'``
    for ESC's twin takes) whole groups are held out, so no recording straddles train and valid.

    Attributes
    ----------
    prepared : a directory written by ``earmark prepare`` (its label table and feature stores).
    labels : a label table replacing the prepared one (an enhanced or simulated one); None: none.
    train_folds : the folds trained on; empty: every fold not used for valid or test.
    valid_folds : the folds validated on (best checkpoint, early stopping); empty: none.
    test_folds : the folds scored once at the end with the chosen model; empty: none.
    train_sources : train only on clips of these sources (curated, noisy, unlabeled); empty: all.
    valid_fraction : without valid folds, a seeded share of the training clips held out to validate.
    group_pattern : a regex on clip ids whose first group keys a recording, held out whole.

    """

    prepared: str = ""
    labels: str | None = None
    train_folds: tuple[NonNegativeInt, ...] = ()
    valid_folds: tuple[NonNegativeInt, ...] = ()
    test_folds: tuple[NonNegativeInt, ...] = ()
    train_sources: tuple[str, ...] = ()
    valid_fraction: Annotated[float, Range(ge=0, lt=1)] = 0.0
    group_pattern: str | None = None

    def __post_init__(self) -> None:
        check_ranges(self, key="data")
        if self.group_pattern is not None:
            check_group_pattern(self.group_pattern, "data.group_pattern")
        overlap = (set(self.train_folds) & set(self.valid_folds + self.test_folds)) | (
            set(self.valid_folds) & set(self.test_folds)
        )
        if overlap:
            raise ConfigError(f"fold {sorted(overlap)[0]} is in more than one of train / valid / test")

    @property
    def label_table(self) -> Path:
        """The label table in force: ``labels``, else the prepared directory's ``labels.csv``."""
        return Path(self.labels) if self.labels else Path(self.prepared) / "labels.csv"


def check_device(device: str, key: str = "device") -> None:
    """``ConfigError`` naming ``key`` unless ``device`` is ``auto`` or a device torch knows."""
    if device == "auto":
        return
    import torch  # here, not at the top: reading a config (and `earmark --help`) needs no torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ConfigError(
            f"{key} must be auto, cpu, cuda, cuda:N or mps, got {device!r} ({' '.join(str(error).split())})"
        ) from error


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
    """Optimizer and schedule: learning rate warm-up, then cosine / step decay or constant.

    Attributes
    ----------
    name : the optimizer, ``adam`` or ``adamw`` (decoupled weight decay).
    lr : the peak learning rate, reached after the warm-up.
    weight_decay : the optimizer's weight decay.
    schedule : after the warm-up: ``cosine`` decay, ``step`` decay or ``constant``.
    warmup_steps : steps of linear warm-up from 0 to ``lr``.
    step_every : with ``schedule: step``, steps between two decays.
    step_gamma : with ``schedule: step``, the factor on the learning rate at each decay.
    min_lr_ratio : the learning rate a cosine decays to, as a share of ``lr``.
    grad_clip_norm : clip the gradients' global norm to this (null: no clipping).

    """

    name: Literal["adam", "adamw"] = "adamw"
    lr: Annotated[float, Range(gt=0, le=10)] = 1e-3
    weight_decay: Annotated[float, Range(ge=0, le=10)] = 1e-4
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: NonNegativeInt = 100
    step_every: PositiveInt = 1000
    step_gamma: Annotated[float, Range(gt=0, le=1)] = 0.5
    min_lr_ratio: Probability = 0.01
    grad_clip_norm: Annotated[float, Range(gt=0, le=1e6)] | None = 5.0  # null: no clipping

    def __post_init__(self) -> None:
        check_ranges(self, key="optim")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; every run writes this back, resolved.

    Attributes
    ----------
    data : which prepared data, labels and folds to train, validate and test on.
    model : the model (``earmark list models``).
    model_options : the model's options (``earmark list models NAME``).
    strategy : how the labels are used in training (``earmark list strategies``).
    strategy_options : the strategy's options (``earmark list strategies NAME``).
    init_from : an earlier run whose best (else last) model weights the model starts from.
    augment : augmentation name -> its options (``earmark list augmentations``); empty: none.
    optim : the optimizer and learning-rate schedule.
    segment_frames : frames of a training crop and of a scored segment (null: 128, or
        ``segment_seconds``).
    segment_seconds : the segment length in seconds, turned into frames at the front-end's rate.
    crop : training crops at a ``random`` place in each clip, or at its ``head``.
    short_crop_share : the share of training crops cut shorter, down to
        ``short_crop_min_seconds``.
    short_crop_min_seconds : the shortest of those shorter crops, in seconds.
    sampler : ``shuffle`` the clips, draw them ``balanced`` (rare classes more often), or
        ``labeled_unlabeled`` batches.
    labeled_per_batch : with the ``labeled_unlabeled`` sampler, labeled clips per batch (0: half).
    batch_size : clips per batch (per process under DDP).
    epochs : passes over the training clips (the run's length, with ``max_steps`` and
        ``max_minutes``).
    max_steps : stop after this many optimizer steps (null: ``epochs`` decides).
    max_minutes : stop after this many minutes of training; a cosine schedule decays by time too.
    validate_every : steps between validations (0: at the end of every epoch).
    checkpoint_every : steps between two saves of the last checkpoint.
    metric : the validation metric that picks the best checkpoint and drives early stopping.
    patience : stop after this many validations without improvement (0: never).
    ema_decay : validate, checkpoint and predict with an exponential moving average of the
        trained weights, updated after each step with this decay (e.g. 0.99; warmed up as
        ``min(decay, (1 + step) / (10 + step))``); null: the weights as trained.
    predict_hop_frames : frames between scored segments at validation, test and predict (null:
        half a segment, or ``hop_seconds``).
    hop_seconds : that hop in seconds, turned into frames at the front-end's rate.
    predict_aggregate : how a clip's segment scores combine: ``mean_probability``,
        ``mean_logit`` or ``max``.
    predict_coverage : score segments over the whole clip (``cover``) or its ``head`` only;
        ``auto``: head when ``crop`` is head.
    seed : seeds the run's random draws (initialisation, sampling, augmentation).
    device : ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    amp : mixed precision on CUDA (ignored elsewhere).
    compile : ``torch.compile`` the training model (see ``benchmarks/train_speed.py``).
    num_workers : data-loading worker processes (0: in the training process).
    sync_batchnorm : under DDP on CUDA, batch norm over the whole global batch.
    tensorboard : also log to TensorBoard in the run directory.
    report : write ``report/report.html`` and ``curves.png`` at the end (off for sweeps).

    """

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: str = "cnn"
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    strategy: str = "supervised"
    strategy_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_from: str | None = None  # an earlier run: start from its best (else last) model weights
    augment: dict[str, Any] = dataclasses.field(default_factory=dict)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    segment_frames: PositiveInt | None = None  # default 128 frames; or give segment_seconds
    segment_seconds: Seconds | None = None
    crop: Literal["head", "random"] = "random"
    short_crop_share: Probability = 0.0  # share of training crops cut shorter, down to short_crop_min_seconds
    short_crop_min_seconds: Seconds = 0.2
    sampler: Literal["shuffle", "balanced", "labeled_unlabeled"] = "shuffle"
    labeled_per_batch: NonNegativeInt = 0  # with sampler labeled_unlabeled; 0 = half the batch
    batch_size: PositiveInt = 32
    epochs: PositiveInt = 30
    max_steps: PositiveInt | None = None
    max_minutes: Annotated[float, Range(gt=0, le=1e6)] | None = (
        None  # stop after this much training; a cosine decays by time too
    )
    validate_every: NonNegativeInt = 0
    checkpoint_every: PositiveInt = 200
    metric: str = "lwlrap"
    patience: NonNegativeInt = 0
    ema_decay: Annotated[float, Range(gt=0, lt=1)] | None = None  # evaluate an EMA of the weights
    predict_hop_frames: PositiveInt | None = None  # default half a segment; or give hop_seconds
    hop_seconds: Seconds | None = None
    predict_aggregate: Literal["mean_probability", "mean_logit", "max"] = "mean_probability"
    predict_coverage: Literal["auto", "cover", "head"] = "auto"  # auto: head when crop is head
    seed: NonNegativeInt = 0
    device: str = "auto"
    amp: bool = True
    compile: bool = False  # torch.compile the training model (see benchmarks/train_speed.py)
    num_workers: NonNegativeInt = 0
    sync_batchnorm: bool = True
    tensorboard: bool = False
    report: bool = True  # write report/report.html and curves.png at the end (off for sweeps)

    def __post_init__(self) -> None:
        check_ranges(self)
        check_device(self.device)
        for frames, seconds in (("segment_frames", "segment_seconds"), ("predict_hop_frames", "hop_seconds")):
            if getattr(self, frames) is not None and getattr(self, seconds) is not None:
                raise ConfigError(f"give {frames} or {seconds}, not both")

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

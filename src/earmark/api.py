"""The public Python API: prepare data, train, evaluate, and tag audio with a trained run.

Four calls cover what the ``earmark`` command does, for notebooks and scripts::

    import earmark

    earmark.prepare("folder", "runs/esc10", options={"root": "../shared/data/esc10/audio"})
    earmark.train("recipes/esc10.yaml", "runs/esc10-run", overrides=["data.test_folds=[5]"])
    evaluation = earmark.evaluate("runs/esc10-run", "runs/esc10/labels.csv")
    tagger = earmark.load_run("runs/esc10-run")
    tagger.predict("dog.flac").top(3)                # [("Dog bark", 0.97), ...]
    tagger.timeline("field_recording.flac").events()  # when each class occurs

Each is a thin wrapper over the library functions the command calls, so both give the same
results. :class:`Tagger` scores audio files (streamed: any length in bounded memory) or arrays
at any sample rate; it averages the clip scores of several runs (an LH + X pair, the folds of a
cross-validation) when given several.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from earmark.config import ConfigError

if TYPE_CHECKING:  # the heavy modules (torch) load when a function runs, not on import earmark
    import torch

    from earmark.data.edits import LabelEdit
    from earmark.data.labels import Labels, MaskMode
    from earmark.data.manifest import Manifest
    from earmark.features.frontend import FrontendConfig
    from earmark.predictions import Predictions
    from earmark.prepare import OnError, PrepareResult
    from earmark.report import Evaluation
    from earmark.runs import LoadedRun
    from earmark.thresholds import Thresholds
    from earmark.timeline import Timeline
    from earmark.training.config import TrainConfig

__all__ = ["Tagger", "Tags", "evaluate", "load_run", "prepare", "run_directories", "train"]

Audio = str | Path | np.ndarray


@dataclasses.dataclass(frozen=True)
class Tags:
    """A clip's scores with the decision thresholds of the tagger that gave them.

    Attributes
    ----------
    classes
        Class names, the order of ``scores`` and ``thresholds``.
    scores
        ``(classes,)`` probabilities.
    thresholds
        ``(classes,)`` decision thresholds (``score >= threshold`` means present).

    """

    classes: tuple[str, ...]
    scores: np.ndarray
    thresholds: np.ndarray

    @property
    def present(self) -> tuple[str, ...]:
        """The classes at or above their threshold, highest score first."""
        order = np.argsort(-self.scores, kind="stable")
        return tuple(self.classes[k] for k in order.tolist() if self.scores[k] >= self.thresholds[k])

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring classes with their scores."""
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [(self.classes[i], float(self.scores[i])) for i in order.tolist()]

    def as_dict(self) -> dict[str, float]:
        """Class name → score."""
        return dict(zip(self.classes, self.scores.tolist(), strict=True))


class Tagger:
    """One or more trained runs ready to tag audio; built by :func:`load_run`.

    With several runs the clip scores are the mean of the runs' clip probabilities (the level
    ``earmark ensemble`` averages at); the runs must share classes and front-end.

    Attributes
    ----------
    runs
        The loaded runs.
    classes
        The class names, the order of every score vector.
    sample_rate
        The rate (Hz) the front-end resamples audio to.
    thresholds
        ``(classes,)`` decision thresholds: the run's tuned ``thresholds.json`` when it has one,
        else 0.5 for every class.

    """

    def __init__(
        self,
        runs: Sequence[LoadedRun],
        *,
        thresholds: float | np.ndarray | Thresholds | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        import torch

        from earmark.features.frontend import build_frontend, frames_per_second

        if not runs:
            raise ConfigError("a tagger needs at least one run")
        first = runs[0]
        for other in runs[1:]:
            if other.spec.class_names != first.spec.class_names:
                raise ConfigError(f"{other.directory} has other classes than {first.directory}")
            if other.spec.frontend_hash != first.spec.frontend_hash:
                raise ConfigError(
                    f"{other.directory} has another front-end ({other.spec.frontend_hash}) than "
                    f"{first.directory} ({first.spec.frontend_hash}); an ensemble needs one front-end"
                )
        self.runs = tuple(runs)
        self.classes: tuple[str, ...] = first.spec.class_names
        self.device = torch.device(device)
        for run in self.runs:
            run.model.to(self.device)
        self.frontend = build_frontend(first.spec.frontend)
        self.sample_rate: int = first.spec.sample_rate
        self.frames_per_second = frames_per_second(first.spec.frontend)
        self.thresholds = self._thresholds(thresholds)

    def _thresholds(self, given: float | np.ndarray | Thresholds | None) -> np.ndarray:
        from earmark.thresholds import Thresholds, run_thresholds

        if given is None:
            tuned = run_thresholds(self.runs[0].directory) if len(self.runs) == 1 else None
            given = 0.5 if tuned is None else tuned
        if isinstance(given, Thresholds):
            return given.for_classes(self.classes)
        values = np.broadcast_to(np.asarray(given, dtype=np.float64), (len(self.classes),)).copy()
        if not (np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()):
            raise ConfigError("thresholds must be probabilities in [0, 1]")
        return values

    def __repr__(self) -> str:
        where = ", ".join(str(run.directory) for run in self.runs)
        return f"Tagger({len(self.classes)} classes, {self.sample_rate} Hz, runs: {where})"

    def frames(self, audio: np.ndarray, sample_rate: int | None) -> np.ndarray:
        """Front-end frames ``(num_frames, dim)`` of samples ``(samples,)`` or ``(samples, channels)``."""
        from earmark.features.audio import resample, to_mono

        if sample_rate is None:
            raise ConfigError("an array of samples needs its sample_rate (Hz)")
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim == 2 and samples.shape[0] < samples.shape[1]:
            samples = samples.T  # (channels, samples), as audio arrays often come
        if samples.ndim not in (1, 2) or samples.shape[0] == 0:
            raise ConfigError(f"audio must be (samples,) or (samples, channels), got shape {samples.shape}")
        if not np.isfinite(samples).all():
            raise ConfigError("audio has NaN or infinite samples")
        mono = resample(np.ascontiguousarray(to_mono(samples)), int(sample_rate), self.sample_rate)
        frames: np.ndarray = self.frontend.compute(mono)
        return frames

    def predict(self, audio: Audio, *, sample_rate: int | None = None) -> Tags:
        """Clip scores of an audio file (any length, streamed) or an array of samples.

        Parameters
        ----------
        audio
            A path, or samples ``(samples,)`` / ``(samples, channels)`` float in [-1, 1].
        sample_rate
            The array's rate in Hz (required for arrays, ignored for files).

        Returns
        -------
        Tags
            Each run scores as it was validated (its segmenting); several runs are averaged.

        """
        from earmark.streaming import tag_file

        rows = []
        if isinstance(audio, str | Path):
            for run in self.runs:
                rows.append(tag_file(audio, self.frontend, run.model, run.segmenting, device=self.device))
        else:
            frames = self.frames(audio, sample_rate)
            rows = [run.segmenting.score(run.model, [frames], device=self.device)[0] for run in self.runs]
        return Tags(self.classes, np.mean(rows, axis=0).astype(np.float32), self.thresholds)

    def scan(
        self,
        audio: Audio,
        on_segment: Callable[[float, float, np.ndarray], None],
        *,
        sample_rate: int | None = None,
    ) -> tuple[Tags, float]:
        """One streaming pass: every segment to ``on_segment``, then the clip's tags and length.

        ``on_segment`` receives each segment's start and end in seconds and its probabilities
        ``(classes,)`` (averaged over the runs), in time order. The clip tags equal
        :meth:`predict`'s (a run that scores only the head of a clip is scored again for them).
        """
        from earmark.streaming import stream_frames, tag_file
        from earmark.timeline import scan_frames

        blocks: Iterator[np.ndarray]
        if isinstance(audio, str | Path):
            path = audio
            blocks = stream_frames(path, self.frontend)

            def head_scores(run: LoadedRun) -> np.ndarray:
                return tag_file(path, self.frontend, run.model, run.segmenting, device=self.device)

        else:
            frames = self.frames(audio, sample_rate)
            blocks = iter([frames])

            def head_scores(run: LoadedRun) -> np.ndarray:
                scores: np.ndarray = run.segmenting.score(run.model, [frames], device=self.device)[0]
                return scores

        clip_scores, duration = scan_frames(
            blocks,
            [(run.model, run.segmenting) for run in self.runs],
            frames_per_second=self.frames_per_second,
            on_segment=on_segment,
            device=self.device,
        )
        rows = [
            head_scores(run) if run.segmenting.coverage == "head" else scores
            for run, scores in zip(self.runs, clip_scores, strict=True)
        ]
        return Tags(self.classes, np.mean(rows, axis=0).astype(np.float32), self.thresholds), duration

    def timeline(self, audio: Audio, *, sample_rate: int | None = None) -> Timeline:
        """Segment scores over time: every segment of the whole file, with its span in seconds.

        Segments are the runs' segment length every hop over the whole file, whatever a run's
        coverage; several runs must cut segments alike. :meth:`Timeline.events` gives
        thresholded, merged events (``tagger.thresholds`` are the usual choice).
        """
        from earmark.timeline import Timeline

        starts: list[float] = []
        ends: list[float] = []
        scores: list[np.ndarray] = []

        def keep(start: float, end: float, row: np.ndarray) -> None:
            starts.append(start)
            ends.append(end)
            scores.append(row)

        _, duration = self.scan(audio, keep, sample_rate=sample_rate)
        return Timeline(self.classes, np.array(starts), np.array(ends), np.stack(scores), duration)


def run_directories(path: str | Path) -> list[Path]:
    """The run directories ``path`` holds: itself, or each fold of a cross-validation directory."""
    path = Path(path)
    if path.is_file() or (path / "checkpoints").is_dir() or (path / "config.yaml").is_file():
        return [path]
    folds = sorted(p for p in path.glob("fold-*") if (p / "checkpoints").is_dir())
    if not folds:
        raise FileNotFoundError(
            f"{path} is not a training run (no checkpoints/, no config.yaml) nor a cross-validation "
            "directory (no fold-*/ runs)"
        )
    return folds


def load_run(
    path: str | Path | Sequence[str | Path],
    *,
    checkpoint: str = "best",
    thresholds: float | np.ndarray | Thresholds | str | Path | None = None,
    device: torch.device | str = "cpu",
) -> Tagger:
    """A :class:`Tagger` of a run directory, a checkpoint file, a cross-validation directory or several runs.

    Parameters
    ----------
    path
        A run directory (or its checkpoint file), a cross-validation directory (every
        ``fold-*`` run is loaded and averaged) or a list of runs to average.
    checkpoint
        ``best`` (the default; ``last`` when a run kept no best) or ``last``.
    thresholds
        Decision thresholds: a number, ``(classes,)`` values, a thresholds file or
        :class:`~earmark.thresholds.Thresholds`. By default a single run's ``thresholds.json``
        (written by ``earmark evaluate --tune-thresholds``), else 0.5.
    device
        Where the models run (``cpu``, ``cuda``, ...).

    """
    from earmark.runs import load_run as load_one
    from earmark.thresholds import read_thresholds

    paths = [path] if isinstance(path, str | Path) else list(path)
    directories = [d for p in paths for d in run_directories(p)]
    runs = [load_one(d, checkpoint=checkpoint) for d in directories]
    if isinstance(thresholds, str | Path):
        thresholds = read_thresholds(thresholds)
    return Tagger(runs, thresholds=thresholds, device=device)


def prepare(
    source: Manifest | str,
    out: str | Path,
    frontend: FrontendConfig | Mapping[str, Any] | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    on_error: OnError = "raise",
    workers: int = 2,
    batch_clips: int = 16,
    shard: tuple[int, int] | None = None,
    edits: Sequence[LabelEdit] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PrepareResult:
    r"""Read a data set and write its label table and feature store under ``out`` (``earmark prepare``).

    Parameters
    ----------
    source
        A layout name (``folder``, ``esc50``, ``audioset``, ...; its loader reads ``options``)
        or a :class:`~earmark.data.manifest.Manifest` already loaded.
    out
        The prepared directory (resumable: run again after an interruption).
    options
        The layout's options, e.g. ``{"root": ..., "fold_pattern": r"^(\d+)-"}``.
    frontend
        A front-end config or its YAML form (``{"name": "logmel", ...}``); by default the
        data set's own embeddings when it ships them, else the default log-mel.
    on_error, workers, batch_clips, shard, edits
        As the command's options (``edits``: label edits, oldest first).
    progress
        Called with the number of clips finished since its last call.

    """
    from earmark.data.loaders import load_dataset
    from earmark.data.manifest import Manifest
    from earmark.features.frontend import FrontendConfig
    from earmark.features.logmel import LogMelConfig
    from earmark.prepare import prepare as prepare_manifest

    manifest = source if isinstance(source, Manifest) else load_dataset(source, dict(options or {}))
    config: FrontendConfig
    if frontend is None:
        config = manifest.precomputed.config if manifest.precomputed is not None else LogMelConfig()
    elif isinstance(frontend, FrontendConfig):
        config = frontend
    else:
        config = FrontendConfig.from_config_dict(frontend)
    return prepare_manifest(
        manifest,
        out,
        config,
        on_error=on_error,
        workers=workers,
        batch_clips=batch_clips,
        shard=shard,
        edits=edits,
        progress=progress,
    )


def train(
    config: TrainConfig | Mapping[str, Any] | str | Path,
    run_dir: str | Path,
    *,
    overrides: Sequence[str] = (),
    resume: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train one run into ``run_dir`` (``earmark train``); returns its ``summary.json`` content.

    ``config`` is a recipe file, its content as a mapping, or a :class:`TrainConfig`;
    ``overrides`` are ``key=value`` strings as on the command line (``"epochs=3"``).
    """
    from earmark.config import apply_overrides, from_dict, load_yaml
    from earmark.training.config import TrainConfig
    from earmark.training.resolve import resolve
    from earmark.training.trainer import Trainer

    if isinstance(config, TrainConfig):
        if overrides:
            raise ConfigError("overrides apply to a recipe file or mapping, not to a TrainConfig")
        settings = resolve(config)
    else:
        data = load_yaml(config) if isinstance(config, str | Path) else dict(config)
        data = apply_overrides(data, list(overrides))
        data.pop("tune", None)
        try:
            settings = resolve(from_dict(TrainConfig, data))
        except ConfigError as error:
            raise ConfigError(
                f"{config}: {error}" if isinstance(config, str | Path) else str(error)
            ) from error
    summary: dict[str, Any] = Trainer(settings, Path(run_dir)).fit(resume=resume, overwrite=overwrite)
    return summary


def evaluate(
    predictions: Predictions | str | Path,
    labels: Labels | str | Path,
    *,
    split: str = "test",
    mask: MaskMode = "auto",
    thresholds: float | Thresholds | str | Path = 0.5,
    bootstrap: int = 0,
    seed: int = 0,
    out: str | Path | None = None,
) -> Evaluation:
    """Every metric of a predictions file (or a run's ``split``) against labels (``earmark evaluate``).

    ``thresholds`` sets the F1 decision thresholds: a number, or per-class thresholds (a
    file such as a run's ``thresholds.json``); with per-class ones, ``metrics["tuned_thresholds"]``
    holds the thresholded metrics at them beside the 0.5 ones. ``bootstrap`` resamples give
    intervals of the headline metrics. With ``out``, metrics.json, summary.md, plots and
    report.html are written there.
    """
    from earmark.data.labels import Labels
    from earmark.data.table import read_labels
    from earmark.predictions import Predictions, read_run_predictions
    from earmark.report import evaluate as evaluate_predictions
    from earmark.report import write_report
    from earmark.thresholds import Thresholds, read_thresholds, thresholded_figures

    scores = (
        predictions
        if isinstance(predictions, Predictions)
        else read_run_predictions(predictions, split=split)
    )
    truth = labels if isinstance(labels, Labels) else read_labels(labels)
    if isinstance(thresholds, str | Path):
        thresholds = read_thresholds(thresholds)
    evaluation = evaluate_predictions(
        scores,
        truth,
        mask=mask,
        threshold=thresholds if isinstance(thresholds, float | int) else 0.5,
        num_resamples=bootstrap,
        rng=np.random.default_rng(seed),
    )
    if isinstance(thresholds, Thresholds):
        evaluation.metrics["tuned_thresholds"] = thresholded_figures(evaluation, thresholds)
    if out is not None:
        write_report(evaluation, Path(out), title="earmark evaluation", with_plots=True)
    return evaluation

"""The one training loop: every strategy, model and data selection runs through :class:`Trainer`.

A run directory holds::

    config.yaml          the resolved config
    spec.json            the TaggingSpec (classes, front-end and its hash, segment length)
    metrics.jsonl        one JSON row per logged training step and per validation
    checkpoints/last.pt  everything needed to resume (model, teacher, optimizer, schedule,
                         strategy state, step, random states), written atomically
    checkpoints/best.pt  the evaluated model at its best validation score
    predictions/valid.npz, predictions/test.npz   clip scores of the best model
    summary.json         the final metrics

``resume=True`` continues from ``last.pt``; on CPU with a fixed seed the resumed run ends with
exactly the parameters an uninterrupted run would have (crops, order and augmentation are all
drawn from seeded, checkpointed generators).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from earmark.batch import Batch
from earmark.config import ConfigError, dump_yaml
from earmark.data.labels import Labels
from earmark.features.frontend import frames_per_second
from earmark.inference import Segmenting
from earmark.metrics import is_single_label, scalar_metric
from earmark.predictions import Predictions
from earmark.runs import load_run
from earmark.spec import TaggingSpec
from earmark.strategies import Strategy, TrainingContext, build_strategy
from earmark.training.augmentation import build_augment
from earmark.training.checkpoint import load_checkpoint, save_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.data import SegmentDataset, TrainLoader
from earmark.training.distributed import DistributedContext, all_reduce_mean, setup
from earmark.training.resolve import resolve
from earmark.training.selection import open_prepared, select_splits

__all__ = ["Trainer", "TrainingDiverged"]

LOG_EVERY = 10


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class _Clock:
    """Seconds of training so far (over resumes) and the share of a ``max_minutes`` budget used."""

    def __init__(self, max_minutes: float | None) -> None:
        self.budget = None if max_minutes is None else 60.0 * max_minutes
        self.seconds = 0.0

    @property
    def progress(self) -> float:
        return 0.0 if not self.budget else min(1.0, self.seconds / self.budget)

    @property
    def out_of_time(self) -> bool:
        return self.budget is not None and self.seconds > self.budget


def _lr_lambda(config: TrainConfig, total_steps: int, clock: _Clock) -> Callable[[int], float]:
    """The learning-rate factor of each step: warm-up, then the schedule.

    Under ``max_minutes`` a cosine decays by steps or by time, whichever is further along, so a
    run the budget stops still ends at the low learning rate.
    """
    optim = config.optim

    def factor(step: int) -> float:
        if optim.warmup_steps and step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        if optim.schedule == "constant":
            return 1.0
        if optim.schedule == "step":
            return float(optim.step_gamma ** (step // optim.step_every))
        progress = min(1.0, (step - optim.warmup_steps) / max(1, total_steps - optim.warmup_steps))
        progress = max(progress, clock.progress)
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class Trainer:
    """Builds data, model, strategy and optimizer from a :class:`TrainConfig` and trains."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        on_step: Callable[[int, int], None] | None = None,
        on_validation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        from earmark.models import build_model  # imported here: models register on import

        scalar_metric(config.metric)  # an unknown metric name fails before any work
        self.config = resolve(config)  # the full option values, as config.yaml records them
        self.run_dir = Path(run_dir)
        self.context: DistributedContext = setup(config.device)
        self.device = self.context.device
        self.stores, labels = open_prepared(config.data)
        self.frame_rate = frames_per_second(self.stores.frontend)  # frames per second of audio
        self.segmenting: Segmenting = config.segmenting(self.frame_rate)
        self.spec = TaggingSpec(labels.class_names, self.stores.frontend, self.segmenting.segment_frames)
        self.splits: dict[str, Labels] = select_splits(labels, config.data, seed=config.seed)
        torch.manual_seed(config.seed)
        model = build_model(config.model, self.spec, config.model_options)
        if config.init_from:
            self.model: nn.Module = model.to(self.device)
            self._initialise_from(Path(config.init_from))
        else:
            model.fit_input_statistics(self.stores[c] for c in self.splits["train"].clip_ids.tolist())
            self.model = model.to(self.device)
        self.strategy: Strategy = build_strategy(config.strategy, self.spec, config.strategy_options)
        self.teacher = self.strategy.make_teacher(self.model)
        if self.context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.splits["train"] = self.strategy.prepare_labels(
            self.splits["train"],
            TrainingContext(self.run_dir, self.spec, self.context.is_main, self._score, load_run=load_run),
        )
        if self.teacher is not None:
            self.teacher.to(self.device)
        self.trained_model: nn.Module = self.model
        if self.context.enabled:
            # batch statistics over the global batch, as one process would see them (CUDA only:
            # PyTorch's SyncBatchNorm has no CPU kernel, so on CPU ranks normalise their own share)
            if config.sync_batchnorm and self.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)  # type: ignore[no-untyped-call]
            self.trained_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if config.compile:  # the training forward and backward through torch.compile (inductor)
            self.trained_model = torch.compile(self.trained_model)  # type: ignore[assignment]
        self._build_data()
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        optimizer_class = torch.optim.AdamW if config.optim.name == "adamw" else torch.optim.Adam
        # the fused kernel updates every tensor in one pass: on a CPU 20x faster per step than the
        # default loop over tensors, which for small models was a tenth of the training time
        self.optimizer = optimizer_class(
            parameters, lr=config.optim.lr, weight_decay=config.optim.weight_decay, fused=True
        )
        self.clock = _Clock(config.max_minutes)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_lambda(config, self.total_steps, self.clock)
        )
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + self.context.rank)
        self.augment = build_augment(config.augment)
        self.on_step = on_step
        # called on rank 0 after each validation with (step, metrics); may raise to stop the run
        # (a hyper-parameter search prunes a trial this way)
        self.on_validation = on_validation
        self.tensorboard = self._tensorboard_writer() if config.tensorboard and self.context.is_main else None
        self.step = 0
        # this process's time waiting for batches and computing steps, and clips trained on
        self.timing = {"data_seconds": 0.0, "step_seconds": 0.0, "clips": 0}
        self.best_value = -math.inf
        self.bad_validations = 0

    # ------------------------------------------------------------------ set-up
    def _build_data(self) -> None:
        config, context = self.config, self.context
        self.dataset = SegmentDataset(
            self.stores,
            self.splits["train"],
            segment_frames=self.segmenting.segment_frames,
            policy=config.crop,
            seed=config.seed,
            short_crop_share=config.short_crop_share,
            short_crop_min_frames=round(config.short_crop_min_seconds * self.frame_rate),
        )
        self.train_loader = TrainLoader.build(
            self.dataset, self.splits["train"], config, rank=context.rank, world_size=context.world_size
        )
        self.loader = self.train_loader.loader
        self._warn_if_segment_dwarfs_clips()
        self.steps_per_epoch = self.train_loader.steps_per_epoch
        epochs_steps = config.epochs * self.steps_per_epoch
        self.total_steps = min(epochs_steps, config.max_steps) if config.max_steps else epochs_steps

    def _warn_if_segment_dwarfs_clips(self) -> None:
        """Warn when a segment is far longer than every training clip (most of it padding)."""
        clips = self.splits["train"].clip_ids.tolist()
        longest = max(self.stores.num_frames(c) for c in clips)
        segment = self.segmenting.segment_frames
        if segment > 4 * longest:
            rate = self.frame_rate
            warnings.warn(
                f"the segment is {segment} frames ({segment / rate:.2f} s) but the longest training "
                f"clip has {longest} frames ({longest / rate:.2f} s): most of every segment is "
                f"padding (masked, but wasted work); set segment_seconds near the clip length",
                UserWarning,
                stacklevel=3,
            )

    def _initialise_from(self, run: Path) -> None:
        """Load the model weights of run ``run``'s best checkpoint (its last without one)."""
        path = run / "checkpoints" / "best.pt"
        if not path.exists():
            path = run / "checkpoints" / "last.pt"
        if not path.exists():
            raise ConfigError(f"init_from: {run} has no checkpoints/best.pt or checkpoints/last.pt")
        payload = load_checkpoint(path)
        stored: TaggingSpec = payload["spec"]
        stored.check_compatible(
            dataclasses.replace(self.spec, segment_frames=stored.segment_frames), what=f"init_from {path}"
        )
        try:
            self.model.load_state_dict(payload["model"])
        except RuntimeError as error:
            raise ConfigError(
                f"init_from: the weights in {path} do not fit model {self.config.model!r} with these "
                f"model_options ({str(error).splitlines()[0]})"
            ) from error

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "config": dump_yaml(self.config),
            "segmenting": self.segmenting.to_dict(),
            "model": self.model.state_dict(),
            "teacher": None if self.teacher is None else self.teacher.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "strategy": self.strategy.state_dict(),
            "step": self.step,
            "seconds": self.clock.seconds,
            "best_value": self.best_value,
            "bad_validations": self.bad_validations,
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
        }

    def _restore(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model"])
        if self.teacher is not None and payload["teacher"] is not None:
            self.teacher.load_state_dict(payload["teacher"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        self.strategy.load_state_dict(payload["strategy"])
        self.step = int(payload["step"])
        self.clock.seconds = float(payload.get("seconds", 0.0))
        self.best_value = float(payload["best_value"])
        self.bad_validations = int(payload["bad_validations"])
        torch.set_rng_state(payload["torch_rng"])
        self.generator.set_state(payload["generator"])

    def _tensorboard_writer(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ConfigError(
                "tensorboard: true needs the tensorboard package: pip install tensorboard"
            ) from error
        return SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))

    def _checkpoint_path(self, name: str) -> Path:
        return self.run_dir / "checkpoints" / f"{name}.pt"

    def _log(self, row: dict[str, Any]) -> None:
        if self.context.is_main:
            with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            if self.tensorboard is not None:
                for key, value in row.items():
                    if isinstance(value, float | int) and not isinstance(value, bool) and key != "step":
                        self.tensorboard.add_scalar(f"{row['split']}/{key}", value, row["step"])
                self.tensorboard.flush()

    def _trim_log(self) -> None:
        """Drop log rows written after the checkpoint a resumed run starts from."""
        path = self.run_dir / "metrics.jsonl"
        if path.exists() and self.context.is_main:
            rows = [r for r in path.read_text(encoding="utf-8").splitlines() if r.strip()]
            kept = [r for r in rows if json.loads(r).get("step", 0) <= self.step]
            path.write_text("".join(r + "\n" for r in kept), encoding="utf-8")

    # ------------------------------------------------------------------ evaluation
    def predict(self, labels: Labels, model: nn.Module | None = None) -> Predictions:
        """Clip scores of ``labels``' clips with the evaluated model (or ``model``)."""
        model = model or self.strategy.evaluation_model(self.model, self.teacher)
        scores = self._score(model, labels, self.segmenting)
        return Predictions.from_spec(self.spec, labels.clip_ids, scores)

    def _score(self, model: nn.Module, labels: Labels, segmenting: Segmenting) -> np.ndarray:
        """``model``'s clip probabilities for ``labels``' clips (what strategies score with)."""
        clips = (self.stores[c] for c in labels.clip_ids.tolist())
        return segmenting.score(model.to(self.device), clips, device=self.device)

    def evaluate(self, labels: Labels, predictions: Predictions) -> dict[str, float]:
        """Headline metrics of ``predictions`` against ``labels`` (entries of ``evaluation_mask``)."""
        y, mask = labels.positive, labels.evaluation_mask()
        names = ["lwlrap", "ap_macro"] + (["accuracy"] if is_single_label(y, mask) else [])
        names = list(dict.fromkeys([self.config.metric, *names]))
        out: dict[str, float] = {}
        for name in names:
            try:
                out[name] = float(scalar_metric(name)(y, predictions.scores, mask=mask))
            except ValueError as error:
                if name == self.config.metric:
                    raise ValueError(f"validation metric {name!r} is undefined here: {error}") from error
        return out

    def _validate(self, epoch: int) -> bool:
        """Validate on rank 0, keep the best; True when early stopping says stop."""
        stop = False
        if self.context.is_main and "valid" in self.splits:
            predictions = self.predict(self.splits["valid"])
            values = self.evaluate(self.splits["valid"], predictions)
            value = values[self.config.metric]
            for name, other in self.strategy.reported_models(self.model, self.teacher).items():
                reported = self.evaluate(self.splits["valid"], self.predict(self.splits["valid"], other))
                values.update({f"{name}_{key}": v for key, v in reported.items()})
            # ties keep the later model: with a coarse metric on a small validation set (accuracy
            # on 60 clips) the first of equal scores is usually the less trained
            improved = value >= self.best_value
            if improved:
                self.best_value, self.bad_validations = value, 0
                model = self.strategy.evaluation_model(self.model, self.teacher)
                save_checkpoint(
                    self._checkpoint_path("best"),
                    {
                        "spec": self.spec.to_dict(),
                        "config": dump_yaml(self.config),
                        "model": model.state_dict(),
                        "model_name": self.config.model,
                        "model_options": self.config.model_options,
                        "segmenting": self.segmenting.to_dict(),
                        "step": self.step,
                        self.config.metric: value,
                    },
                )
            else:
                self.bad_validations += 1
            self._log({"step": self.step, "epoch": epoch, "split": "valid", **values, "best": improved})
            if self.on_validation is not None:
                self.on_validation(self.step, values)
            stop = bool(self.config.patience and self.bad_validations >= self.config.patience)
        if self.context.enabled:
            flag = torch.tensor([1.0 if stop else 0.0])
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        return stop

    # ------------------------------------------------------------------ training
    def _train_step(self, batch: Batch) -> dict[str, float]:
        self.trained_model.train()
        batch = batch.to(self.device)
        if self.augment is not None:
            batch = self.augment(batch, self.generator)
        with torch.autocast(self.device.type, enabled=self.use_amp):
            losses = self.strategy.losses(batch, self.trained_model, self.teacher, self.step, self.generator)
        total = losses["total"]
        if not torch.isfinite(total):
            raise TrainingDiverged(
                f"the loss became {total.item()} at step {self.step}; the last good checkpoint is "
                f"{self._checkpoint_path('last')} (lower optim.lr or set optim.grad_clip_norm)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()  # type: ignore[no-untyped-call]
        if self.config.optim.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.strategy.after_step(self.model, self.teacher, self.step)
        return {k: float(all_reduce_mean(v.detach().float(), self.context)) for k, v in losses.items()}

    def fit(self, *, resume: bool = False) -> dict[str, Any]:
        """Train to the configured length; returns the summary written to ``summary.json``."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        last = self._checkpoint_path("last")
        if resume and last.exists():
            self._restore(load_checkpoint(last, self.spec))
            self._trim_log()
        elif self.context.is_main:
            (self.run_dir / "metrics.jsonl").unlink(missing_ok=True)
        if self.context.is_main:
            (self.run_dir / "config.yaml").write_text(dump_yaml(self.config), encoding="utf-8")
            (self.run_dir / "spec.json").write_text(
                json.dumps(self.spec.to_dict(), indent=2), encoding="utf-8"
            )
        started = ticked = time.perf_counter()
        stop = self.step >= self.total_steps
        while not stop:
            epoch, position = divmod(self.step, self.steps_per_epoch)
            self.dataset.set_epoch(epoch)
            self.train_loader.seek(epoch, position)
            waited_from = time.perf_counter()
            for batch in self.loader:
                computing_from = time.perf_counter()
                self.timing["data_seconds"] += computing_from - waited_from
                losses = self._train_step(batch)
                waited_from = time.perf_counter()
                self.timing["step_seconds"] += waited_from - computing_from
                self.timing["clips"] += batch.size
                self.step += 1
                if self.step % LOG_EVERY == 0 or self.step == 1:
                    self._log(
                        {
                            "step": self.step,
                            "epoch": epoch,
                            "split": "train",
                            **losses,
                            "lr": self.scheduler.get_last_lr()[0],
                            "seconds": time.perf_counter() - started,
                            **self.timing,
                        }
                    )
                if self.on_step is not None:
                    self.on_step(self.step, self.total_steps)
                end_of_epoch = self.step % self.steps_per_epoch == 0
                every = self.config.validate_every
                if (every and self.step % every == 0) or (not every and end_of_epoch):
                    stop = self._validate(epoch)
                now = time.perf_counter()
                self.clock.seconds += now - ticked
                ticked = now
                stop = stop or self.step >= self.total_steps or self.clock.out_of_time
                if self.context.is_main and (self.step % self.config.checkpoint_every == 0 or stop):
                    save_checkpoint(last, self._state())
                if stop or end_of_epoch:
                    break
        return self._finish()

    def _finish(self) -> dict[str, Any]:
        best_path = self._checkpoint_path("best")
        model = self.strategy.evaluation_model(self.model, self.teacher)
        if best_path.exists():
            model.load_state_dict(load_checkpoint(best_path, self.spec)["model"])
        busy = self.timing["data_seconds"] + self.timing["step_seconds"]
        throughput = {
            **self.timing,
            "clips_per_second": self.timing["clips"] / busy if busy else None,
            "data_wait_share": self.timing["data_seconds"] / busy if busy else None,
        }
        summary: dict[str, Any] = {
            "throughput": throughput,
            "steps": self.step,
            "best_valid": self.best_value if "valid" in self.splits else None,
        }
        if self.context.is_main:
            for split in ("valid", "test"):
                if split not in self.splits:
                    continue
                predictions = self.predict(self.splits[split], model)
                predictions.write(self.run_dir / "predictions" / f"{split}.npz")
                summary[split] = self.evaluate(self.splits[split], predictions)
                for name, other in self.strategy.reported_models(self.model, self.teacher).items():
                    reported = self.evaluate(self.splits[split], self.predict(self.splits[split], other))
                    summary.setdefault("reported", {}).setdefault(name, {})[split] = reported
            summary["clips"] = {k: v.num_clips for k, v in self.splits.items()}
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
            if self.config.report:
                self._write_report()
        self.context.barrier()
        return summary

    def _write_report(self) -> None:
        """The run's HTML report: training curves, then the metrics of its test (or valid) split."""
        from earmark.plots import PlotsUnavailable, training_curves_chart
        from earmark.report import evaluate, write_report

        split = "test" if "test" in self.splits else "valid" if "valid" in self.splits else None
        rows = [
            json.loads(r) for r in (self.run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        figures: dict[str, bytes] = {}
        try:
            figures["Training curves"] = training_curves_chart(rows, self.config.metric)
            (self.run_dir / "curves.png").write_bytes(figures["Training curves"])
        except (PlotsUnavailable, ValueError):
            figures = {}
        if split is None:
            return
        predictions = Predictions.read(self.run_dir / "predictions" / f"{split}.npz")
        labels = self.splits[split]
        evaluation = evaluate(predictions, labels)  # the mask of Labels.evaluation_mask, as above
        write_report(
            evaluation,
            self.run_dir / "report",
            title=f"earmark run {self.run_dir.name}: {split} split",
            sources={"run": str(self.run_dir), "split": split},
            extra_figures=figures,
        )

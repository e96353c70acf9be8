"""The one training loop: every strategy, model and data selection runs through :class:`Trainer`.

A run directory holds::

    config.yaml          the resolved config
    spec.json            the TaggingSpec (classes, front-end and its hash, segment length)
    metrics.jsonl        one JSON row per logged training step and per validation
    checkpoints/last.pt  everything needed to resume (model, teacher, optimizer, schedule,
                         strategy state, step, random states), written atomically
    checkpoints/best.pt  the evaluated model at its best validation score
    predictions/valid.npz, predictions/test.npz   clip scores of the best model
    summary.json         the final metrics and the batch geometry (world size, global batch)

Under ``torchrun`` every rank trains on its share of each epoch (``batch_size`` is per process)
and scores its share of the evaluation clips; the scores are gathered, so metrics, predictions
and the best-checkpoint decision cover every clip (see :mod:`earmark.training.distributed`).

``resume=True`` continues from ``last.pt``; on CPU with a fixed seed the resumed run ends with
exactly the parameters an uninterrupted run would have (crops, order and augmentation are all
drawn from seeded, checkpointed generators).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from earmark.batch import Batch
from earmark.config import dump_yaml
from earmark.data.labels import Labels
from earmark.errors import EarmarkError
from earmark.features.frontend import frames_per_second
from earmark.inference import Segmenting
from earmark.io import write_text_atomic
from earmark.metrics import scalar_metric
from earmark.predictions import Predictions
from earmark.spec import TaggingSpec
from earmark.strategies import Strategy, TrainingContext, build_strategy
from earmark.training.augmentation import build_augment
from earmark.training.checkpoint import load_checkpoint, save_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.data import SegmentDataset, TrainLoader, warn_if_segment_dwarfs_clips
from earmark.training.distributed import (
    DistributedContext,
    all_reduce_max,
    all_reduce_mean,
    average_buffers,
    broadcast_module,
    broadcast_values,
    gather_shards,
    setup,
    shard,
)
from earmark.training.evaluation import headline_metrics, write_run_report
from earmark.training.fingerprint import claim_run_dir, run_fingerprint
from earmark.training.logbook import RunLog
from earmark.training.resolve import resolve
from earmark.training.runs import load_initial_weights, load_run
from earmark.training.schedule import TrainingClock, build_optimizer, build_scheduler
from earmark.training.selection import open_prepared, select_splits

__all__ = ["Trainer", "TrainingDiverged"]

LOG_EVERY = 10


class TrainingDiverged(EarmarkError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


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
            load_initial_weights(model, Path(config.init_from), self.spec, config.model)
            self.model: nn.Module = model.to(self.device)
        else:
            model.fit_input_statistics(self.stores[c] for c in self.splits["train"].clip_ids.tolist())
            self.model = model.to(self.device)
        self.strategy: Strategy = build_strategy(config.strategy, self.spec, config.strategy_options)
        self.teacher = self.strategy.make_teacher(self.model)
        if self.context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.splits["train"] = self.strategy.prepare_labels(
            self.splits["train"],
            TrainingContext(self.run_dir, self.spec, self.context.is_main, self.score, load_run=load_run),
        )
        if self.teacher is not None:
            self.teacher.to(self.device)
        self.trained_model: nn.Module = self.model
        if self.context.enabled:
            # batch statistics over the global batch, as one process would see them (CUDA only:
            # PyTorch's SyncBatchNorm has no CPU kernel, so on CPU ranks normalise their own share)
            if config.sync_batchnorm and self.device.type == "cuda":
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)  # type: ignore[no-untyped-call]
            # each rank keeps its own running statistics (rank 0's are not broadcast every step);
            # _average_buffers takes their mean before each validation and checkpoint
            self.trained_model = nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False,
            )
        if config.compile:  # the training forward and backward through torch.compile (inductor)
            self.trained_model = torch.compile(self.trained_model)  # type: ignore[assignment]
        self._build_data()
        self.optimizer = build_optimizer(self.model, config)
        self.clock = TrainingClock(config.max_minutes)
        self.scheduler = build_scheduler(self.optimizer, config, self.total_steps, self.clock)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + self.context.rank)
        self.augment = build_augment(config.augment)
        self.on_step = on_step
        # called on rank 0 after each validation with (step, metrics); may raise to stop the run
        # (a hyper-parameter search prunes a trial this way)
        self.on_validation = on_validation
        self.log = RunLog(self.run_dir, enabled=self.context.is_main, tensorboard=config.tensorboard)
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
        warn_if_segment_dwarfs_clips(self.stores, self.splits["train"], self.segmenting, self.frame_rate)
        self.steps_per_epoch = self.train_loader.steps_per_epoch
        epochs_steps = config.epochs * self.steps_per_epoch
        self.total_steps = min(epochs_steps, config.max_steps) if config.max_steps else epochs_steps
        # batch_size is per process: one optimizer step sees world_size x batch_size clips
        self.batch_geometry = {
            "world_size": context.world_size,
            "batch_size": config.batch_size,
            "global_batch_size": context.world_size * config.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
        }

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

    def _checkpoint_path(self, name: str) -> Path:
        return self.run_dir / "checkpoints" / f"{name}.pt"

    # ------------------------------------------------------------------ evaluation
    def predict(self, labels: Labels, model: nn.Module | None = None) -> Predictions:
        """Clip scores of ``labels``' clips with the evaluated model (or ``model``).

        Under DDP a collective: each rank scores its share of the clips and every rank gets all
        scores in clip order.
        """
        model = model or self.strategy.evaluation_model(self.model, self.teacher)
        rows = np.arange(labels.num_clips)[shard(labels.num_clips, **self._rank)]
        if len(rows):
            scores = self.score(model, labels.take(rows), self.segmenting)
        else:  # fewer clips than ranks
            scores = np.zeros((0, self.spec.num_classes), dtype=np.float32)
        scores = gather_shards(scores, labels.num_clips, self.context)
        return Predictions.from_spec(self.spec, labels.clip_ids, scores)

    def score(self, model: nn.Module, labels: Labels, segmenting: Segmenting) -> np.ndarray:
        """``model``'s clip probabilities for ``labels``' clips (what strategies score with)."""
        clips = (self.stores[c] for c in labels.clip_ids.tolist())
        return segmenting.score(model.to(self.device), clips, device=self.device)

    @property
    def _rank(self) -> dict[str, int]:
        return {"rank": self.context.rank, "world_size": self.context.world_size}

    def evaluate(self, labels: Labels, predictions: Predictions) -> dict[str, float]:
        """Headline metrics of ``predictions`` (:func:`~earmark.training.evaluation.headline_metrics`)."""
        return headline_metrics(labels, predictions, self.config.metric)

    def _average_buffers(self) -> None:
        """Every rank's batch-norm running statistics become their mean over ranks (DDP)."""
        average_buffers(self.model, self.context)
        if self.teacher is not None:
            average_buffers(self.teacher, self.context)

    def _validate(self, epoch: int) -> bool:
        """Validate (every rank scores its share), keep the best; True when early stopping says stop."""
        if "valid" not in self.splits:
            return False
        self._average_buffers()
        predictions = self.predict(self.splits["valid"])
        values = self.evaluate(self.splits["valid"], predictions)
        for name, other in self.strategy.reported_models(self.model, self.teacher).items():
            reported = self.evaluate(self.splits["valid"], self.predict(self.splits["valid"], other))
            values.update({f"{name}_{key}": v for key, v in reported.items()})
        # every rank decides on rank 0's value, so all keep the same best and stop together
        (value,) = broadcast_values([values[self.config.metric]], self.context)
        # ties keep the later model: with a coarse metric on a small validation set (accuracy
        # on 60 clips) the first of equal scores is usually the less trained
        improved = value >= self.best_value
        if improved:
            self.best_value, self.bad_validations = value, 0
            if self.context.is_main:
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
        if self.context.is_main:
            self.log.write({"step": self.step, "epoch": epoch, "split": "valid", **values, "best": improved})
            if self.on_validation is not None:
                self.on_validation(self.step, values)
        return bool(self.config.patience and self.bad_validations >= self.config.patience)

    # ------------------------------------------------------------------ training
    def _train_step(self, batch: Batch) -> dict[str, float]:
        self.trained_model.train()
        batch = batch.to(self.device)
        if self.augment is not None:
            batch = self.augment(batch, self.generator)
        with torch.autocast(self.device.type, enabled=self.use_amp):
            losses = self.strategy.losses(batch, self.trained_model, self.teacher, self.step, self.generator)
        # averaged over ranks before the backward: a loss gone NaN on one rank stops every rank
        reported = {k: float(all_reduce_mean(v.detach().float(), self.context)) for k, v in losses.items()}
        if not math.isfinite(reported["total"]):
            raise TrainingDiverged(
                f"the loss became {reported['total']} at step {self.step}; the last good checkpoint is "
                f"{self._checkpoint_path('last')} (lower optim.lr or set optim.grad_clip_norm)"
            )
        total = losses["total"]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()  # type: ignore[no-untyped-call]
        if self.config.optim.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.strategy.after_step(self.model, self.teacher, self.step)
        return reported

    def fit(self, *, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
        """Train to the configured length; returns the summary written to ``summary.json``.

        A run directory that already holds a run is refused (:class:`RunDirectoryError`) unless
        ``resume`` (same settings and labels: it continues from ``last.pt``) or ``overwrite`` (its
        earlier outputs are removed first).
        """
        if self.context.is_main:
            claim_run_dir(self.run_dir, run_fingerprint(self.config), resume=resume, overwrite=overwrite)
        self.context.barrier()
        last = self._checkpoint_path("last")
        if resume and last.exists():
            self._restore(load_checkpoint(last, self.spec))
            self.log.trim(self.step)
        else:
            self.log.start()
        self.log.announce(self.batch_geometry)
        if self.context.is_main:
            write_text_atomic(self.run_dir / "config.yaml", dump_yaml(self.config))
            write_text_atomic(self.run_dir / "spec.json", json.dumps(self.spec.to_dict(), indent=2))
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
                    self.log.write(
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
                if self.config.max_minutes:  # one clock for all ranks: same schedule, same stop
                    self.clock.seconds = all_reduce_max(self.clock.seconds, self.context)
                ticked = now
                stop = stop or self.step >= self.total_steps or self.clock.out_of_time
                if self.step % self.config.checkpoint_every == 0 or stop:
                    self._average_buffers()
                    if self.context.is_main:
                        save_checkpoint(last, self._state())
                if stop or end_of_epoch:
                    break
        return self._finish()

    def _finish(self) -> dict[str, Any]:
        best_path = self._checkpoint_path("best")
        model = self.strategy.evaluation_model(self.model, self.teacher)
        if self.context.is_main and best_path.exists():
            model.load_state_dict(load_checkpoint(best_path, self.spec)["model"])
        broadcast_module(model, self.context)  # every rank scores its share with rank 0's best
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
            "batch": self.batch_geometry,
        }
        for split in ("valid", "test"):  # every rank scores its share of the clips
            if split not in self.splits:
                continue
            predictions = self.predict(self.splits[split], model)
            if self.context.is_main:
                predictions.write(self.run_dir / "predictions" / f"{split}.npz")
            summary[split] = self.evaluate(self.splits[split], predictions)
            for name, other in self.strategy.reported_models(self.model, self.teacher).items():
                reported = self.evaluate(self.splits[split], self.predict(self.splits[split], other))
                summary.setdefault("reported", {}).setdefault(name, {})[split] = reported
        summary["clips"] = {k: v.num_clips for k, v in self.splits.items()}
        if self.context.is_main:
            write_text_atomic(self.run_dir / "summary.json", json.dumps(summary, indent=2))
            if self.config.report:
                self._write_report()
        self.context.barrier()
        return summary

    def _write_report(self) -> None:
        """The run's curves and HTML report on its test (or valid) split."""
        split = "test" if "test" in self.splits else "valid" if "valid" in self.splits else None
        labels = self.splits[split] if split else None
        write_run_report(self.run_dir, self.log.rows(), self.config.metric, split, labels)

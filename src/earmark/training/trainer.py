"""The one training loop: every strategy, model and data selection runs through :class:`Trainer`.

A run directory holds::

    config.yaml          the resolved config
    spec.json            the TaggingSpec (classes, front-end and its hash, segment length)
    metrics.jsonl        one JSON row per logged training step and per validation
    checkpoints/last.pt  everything needed to resume (model, teacher, optimizer, schedule,
                         strategy state, step, random states), written atomically; its
                         ``model`` is the evaluated model (the EMA teacher, or the weight
                         average of ``ema_decay``) and ``trained`` the weights being trained
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

import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from earmark.batch import Batch
from earmark.config import ConfigError, dump_yaml
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
from earmark.training.averaging import average_copy, update_average
from earmark.training.building import build_run_model, training_module
from earmark.training.card import write_model_card
from earmark.training.checkpoint import capture_state, load_checkpoint, restore_state, save_checkpoint
from earmark.training.config import TrainConfig
from earmark.training.data import SegmentDataset, TrainLoader
from earmark.training.distributed import (
    DistributedContext,
    all_reduce_max,
    all_reduce_mean,
    average_buffers,
    broadcast_module,
    broadcast_values,
    setup,
)
from earmark.training.evaluation import Evaluator, write_run_report
from earmark.training.fingerprint import claim_run_dir, run_fingerprint
from earmark.training.logbook import RunLog, StepTiming
from earmark.training.resolve import resolve
from earmark.training.runs import load_run, model_checkpoint
from earmark.training.schedule import TrainingClock, build_optimizer, build_scheduler, count_steps
from earmark.training.selection import open_prepared, select_splits

__all__ = ["Trainer", "TrainingDiverged"]

LOG_EVERY = 10


class TrainingDiverged(EarmarkError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Trainer:
    """Builds data, model, strategy and optimizer from a :class:`TrainConfig` and trains.

    ``on_step(step, total_steps)`` is called after every step (:attr:`last_losses` then holds
    that step's named losses); ``on_validation(step, metrics)`` on rank 0 after each
    validation, and may raise to stop the run (a search prunes a trial so).
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        on_step: Callable[[int, int], None] | None = None,
        on_validation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        scalar_metric(config.metric)  # an unknown metric name fails before any work
        self.config = config = resolve(config)  # the full option values, as config.yaml records them
        self.run_dir = Path(run_dir)
        self.context: DistributedContext = setup(config.device)
        self.device = self.context.device
        self.stores, labels = open_prepared(config.data)
        self.frame_rate = frames_per_second(self.stores.frontend)  # frames per second of audio
        segmenting = config.segmenting(self.frame_rate)
        self.spec = TaggingSpec(labels.class_names, self.stores.frontend, segmenting.segment_frames)
        self.strategy: Strategy = build_strategy(config.strategy, self.spec, config.strategy_options)
        # the strategy's loss decides how logits become probabilities (sigmoid or softmax)
        self.segmenting: Segmenting = dataclasses.replace(segmenting, activation=self.strategy.output)
        self.splits: dict[str, Labels] = select_splits(labels, config.data, seed=config.seed)
        self.evaluator = Evaluator(self.stores, self.spec, self.segmenting, config.metric, self.context)
        self.model = build_run_model(config, self.spec, self.stores, self.splits["train"], self.device)
        self.teacher = self.strategy.make_teacher(self.model)
        if self.context.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.splits["train"] = self.strategy.prepare_labels(
            self.splits["train"],
            TrainingContext(
                self.run_dir, self.spec, self.context.is_main, self.evaluator.score, load_run=load_run
            ),
        )
        if self.teacher is not None:
            self.teacher.to(self.device)
        self.model, self.trained_model = training_module(self.model, config, self.context)
        self.averaged = self._make_average()
        self.dataset = SegmentDataset.for_training(
            self.stores, self.splits["train"], config, self.segmenting, self.frame_rate
        )
        self.train_loader = TrainLoader.build(
            self.dataset,
            self.splits["train"],
            config,
            rank=self.context.rank,
            world_size=self.context.world_size,
        )
        self.steps_per_epoch = self.train_loader.steps_per_epoch
        self.total_steps = count_steps(config, self.steps_per_epoch)
        self.optimizer = build_optimizer(self.model, config)
        self.clock = TrainingClock(config.max_minutes)
        self.scheduler = build_scheduler(self.optimizer, config, self.total_steps, self.clock)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + self.context.rank)
        self.augment = build_augment(config.augment)
        self.on_step, self.on_validation = on_step, on_validation
        self.last_losses: dict[str, float] = {}
        self.log = RunLog(self.run_dir, enabled=self.context.is_main, tensorboard=config.tensorboard)
        self.timing = StepTiming()
        self.step, self.best_value, self.bad_validations = 0, -math.inf, 0

    @property
    def batch_geometry(self) -> dict[str, int]:
        """World size, ``batch_size`` (per process), the global batch, steps per epoch and in all."""
        world_size, batch_size = self.context.world_size, self.config.batch_size
        return {
            "world_size": world_size,
            "batch_size": batch_size,
            "global_batch_size": world_size * batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
        }

    def _make_average(self) -> nn.Module | None:
        """The EMA of the weights that ``ema_decay`` evaluates with, or None."""
        if self.config.ema_decay is None:
            return None
        if self.teacher is not None:
            raise ConfigError(
                f"ema_decay averages the weights of a run whose strategy has no teacher; "
                f"{self.config.strategy!r} already keeps an EMA teacher (set its alpha in "
                f"strategy_options instead)"
            )
        return average_copy(self.model)

    def _evaluation_model(self) -> nn.Module:
        """The model validated, checkpointed and scored: the weight average, or the strategy's choice."""
        if self.averaged is not None:
            return self.averaged
        return self.strategy.evaluation_model(self.model, self.teacher)

    # ------------------------------------------------------------------ state
    @property
    def _parts(self) -> dict[str, Any]:
        """What a resumable checkpoint saves by ``state_dict()`` (the teacher may be None)."""
        return {
            "teacher": self.teacher,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "scaler": self.scaler,
            "strategy": self.strategy,
        }

    def _state(self) -> dict[str, Any]:
        # "model" holds the evaluated weights (what load_run predicts with, as the test split
        # was scored); "trained" the weights the optimizer steps, which a resumed run continues
        return model_checkpoint(
            self.spec,
            self.config,
            self.segmenting,
            self._evaluation_model(),
            trained=self.model.state_dict(),
            **capture_state(self._parts),
            step=self.step,
            seconds=self.clock.seconds,
            best_value=self.best_value,
            bad_validations=self.bad_validations,
            torch_rng=torch.get_rng_state(),
            generator=self.generator.get_state(),
        )

    def _restore(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload.get("trained", payload["model"]))
        if self.averaged is not None:  # with ema_decay the evaluated model is the average
            self.averaged.load_state_dict(payload["model"])
        restore_state(self._parts, payload)
        self.step, self.clock.seconds = int(payload["step"]), float(payload.get("seconds", 0.0))
        self.best_value, self.bad_validations = float(payload["best_value"]), int(payload["bad_validations"])
        torch.set_rng_state(payload["torch_rng"])
        self.generator.set_state(payload["generator"])

    def _checkpoint_path(self, name: str) -> Path:
        return self.run_dir / "checkpoints" / f"{name}.pt"

    # ------------------------------------------------------------------ evaluation
    def _judge(self, split: str, model: nn.Module) -> tuple[Predictions, dict[str, float], dict[str, Any]]:
        others = self.strategy.reported_models(self.model, self.teacher)
        if self.averaged is not None:  # the weights as trained, beside their average
            others = {**others, "trained": self.model}
        return self.evaluator.judge(self.splits[split], model, others)

    def _average_buffers(self) -> None:
        """Every rank's batch-norm running statistics become their mean over ranks (DDP)."""
        for module in (self.model, self.teacher, self.averaged):
            if module is not None:
                average_buffers(module, self.context)

    def _validate(self, epoch: int) -> bool:
        """Validate, keep the best; True when early stopping says stop."""
        if "valid" not in self.splits:
            return False
        self._average_buffers()
        model = self._evaluation_model()
        _, values, reported = self._judge("valid", model)
        # a strategy may take a reported model that validated better (Mean Teacher, evaluate: validation)
        chosen = self.strategy.choose_evaluated(self.config.metric, values, reported)
        if chosen is not None:
            model = self.strategy.reported_models(self.model, self.teacher)[chosen]
        judged = values if chosen is None else reported[chosen]
        values |= {f"{name}_{key}": v for name, metrics in reported.items() for key, v in metrics.items()}
        # every rank decides on rank 0's value, so all keep the same best and stop together; ties
        # keep the later model (a coarse metric on few clips ties often, the first is less trained)
        (value,) = broadcast_values([judged[self.config.metric]], self.context)
        improved = value >= self.best_value
        if improved:
            self.best_value, self.bad_validations = value, 0
        else:
            self.bad_validations += 1
        if self.context.is_main:
            if improved:
                extra = {"step": self.step, self.config.metric: value, "evaluated": chosen}
                best = model_checkpoint(self.spec, self.config, self.segmenting, model, **extra)
                save_checkpoint(self._checkpoint_path("best"), best)
            chosen_row = {} if chosen is None else {"evaluated": chosen}
            row = {"step": self.step, "epoch": epoch, "split": "valid", **values, **chosen_row}
            self.log.write(row | {"best": improved})
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
            self._diverged(reported["total"])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()  # type: ignore[no-untyped-call]
        if self.config.optim.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.strategy.after_step(self.model, self.teacher, self.step)
        if self.averaged is not None and self.config.ema_decay is not None:
            update_average(self.averaged, self.model, self.config.ema_decay, self.step)
        return reported

    def _diverged(self, loss: float) -> None:
        last, advice = self._checkpoint_path("last"), "lower optim.lr or set optim.grad_clip_norm"
        if last.exists():
            kept = f"the last good checkpoint is {last}"
        else:
            kept = f"no checkpoint was written yet (checkpoint_every={self.config.checkpoint_every})"
        raise TrainingDiverged(f"the loss became {loss} at step {self.step}; {kept} ({advice})")

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
            for batch in self.train_loader.loader:
                computing_from = time.perf_counter()
                losses = self.last_losses = self._train_step(batch)
                waited_from = self.timing.add(waited_from, computing_from, batch.size)
                self.step += 1
                if self.step % LOG_EVERY == 0 or self.step == 1:
                    lr, seconds = self.scheduler.get_last_lr()[0], time.perf_counter() - started
                    row = {"step": self.step, "epoch": epoch, "split": "train", **losses, "lr": lr}
                    self.log.write(row | {"seconds": seconds, **self.timing.as_dict()})
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
        """Score valid and test with the best model (every rank its share); write the summary."""
        best_path = self._checkpoint_path("best")
        model = self._evaluation_model()
        chosen = None  # the reported model whose weights the best checkpoint holds, if any
        if self.context.is_main and best_path.exists():
            best = load_checkpoint(best_path, self.spec)
            model.load_state_dict(best["model"])
            chosen = best.get("evaluated")
        broadcast_module(model, self.context)
        summary: dict[str, Any] = {
            "throughput": self.timing.throughput(),
            "steps": self.step,
            "best_valid": self.best_value if "valid" in self.splits else None,
            "batch": self.batch_geometry,
        }
        if chosen is not None:
            summary["evaluated"] = chosen
        for split in ("valid", "test"):
            if split not in self.splits:
                continue
            predictions, summary[split], reported = self._judge(split, model)
            if self.context.is_main:
                predictions.write(self.run_dir / "predictions" / f"{split}.npz")
            for name, metrics in reported.items():
                summary.setdefault("reported", {}).setdefault(name, {})[split] = metrics
        summary["clips"] = {k: v.num_clips for k, v in self.splits.items()}
        if self.context.is_main:
            write_text_atomic(self.run_dir / "summary.json", json.dumps(summary, indent=2))
            write_model_card(self.run_dir)
            if self.config.report:
                shown = "test" if "test" in self.splits else "valid" if "valid" in self.splits else None
                labels = self.splits[shown] if shown else None
                write_run_report(self.run_dir, self.log.rows(), self.config.metric, shown, labels)
        self.context.barrier()
        return summary

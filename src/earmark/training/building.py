"""The modules a run trains: its model (fresh or from ``init_from``) and the wrapper that trains it."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from earmark.data.labels import Labels
from earmark.spec import TaggingSpec
from earmark.training.config import TrainConfig
from earmark.training.data import StoreSet
from earmark.training.distributed import DistributedContext
from earmark.training.runs import load_initial_weights

__all__ = ["build_run_model", "training_module"]


def build_run_model(
    config: TrainConfig, spec: TaggingSpec, stores: StoreSet, train: Labels, device: torch.device
) -> nn.Module:
    """``config.model`` for ``spec``, seeded, on ``device``.

    With ``init_from`` it starts from that run's weights (input statistics included); otherwise
    a model that standardises its input fits the statistics on the ``train`` clips' frames.
    """
    from earmark.models import build_model  # imported here: models register on import

    torch.manual_seed(config.seed)
    model = build_model(config.model, spec, config.model_options)
    if config.init_from:
        load_initial_weights(model, Path(config.init_from), spec, config.model)
    else:
        model.fit_input_statistics(stores[c] for c in train.clip_ids.tolist())
    return model.to(device)


def training_module(
    model: nn.Module, config: TrainConfig, context: DistributedContext
) -> tuple[nn.Module, nn.Module]:
    """``(model, trained)``: the model to save and the module whose forward trains it.

    Under DDP ``trained`` wraps ``model``; each rank keeps its own batch-norm running statistics
    (rank 0's are not broadcast every step: the Trainer averages them before each validation and
    checkpoint). ``sync_batchnorm`` normalises over the global batch on CUDA (PyTorch's
    SyncBatchNorm has no CPU kernel). ``compile`` runs the training forward and backward through
    ``torch.compile`` (inductor).
    """
    trained = model
    if context.enabled:
        if config.sync_batchnorm and context.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
        trained = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[context.device.index] if context.device.type == "cuda" else None,
            broadcast_buffers=False,
        )
    if config.compile:
        trained = torch.compile(trained)  # type: ignore[assignment]
    return model, trained

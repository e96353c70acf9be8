"""Training data: fixed-length segments cut from the feature store, and the samplers that pick clips.

Segments are cut with a policy: ``head`` (the start of the clip, the "LH" input of the
FSDKaggle2018 system) or ``random`` (anywhere in the clip, "X"); a clip shorter than a segment is
zero-padded at the end, and the batch says how many frames are real. With ``short_crop_share``,
that share of the crops is cut shorter (a length drawn uniformly down to
``short_crop_min_frames``) and padded, so the model also learns to tag short sounds. Random
crops draw from a generator seeded by ``(seed, epoch, clip)``, so a resumed run cuts exactly the
crops an uninterrupted one would have, whatever the number of loader workers.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from earmark.batch import Batch
from earmark.data.labels import Labels
from earmark.features.store import FeatureStore, StoreError
from earmark.inference import Segmenting

if TYPE_CHECKING:
    from earmark.training.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "BalancedSampler",
    "EpochSampler",
    "LabeledUnlabeledBatches",
    "SegmentDataset",
    "StoreSet",
    "TrainLoader",
    "crop_segment",
    "warn_if_segment_dwarfs_clips",
]

CropPolicy = Literal["head", "random"]


def crop_segment(
    frames: np.ndarray, length: int, policy: CropPolicy, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    """A ``(length, dim)`` float32 segment of ``frames`` and its valid frames.

    A clip shorter than ``length`` is zero-padded at the end; the valid count tells the model
    where the padding starts.
    """
    available = frames.shape[0]
    if available >= length:
        start = 0 if policy == "head" or rng is None else int(rng.integers(0, available - length + 1))
        return np.asarray(frames[start : start + length], dtype=np.float32), length
    out = np.zeros((length, frames.shape[1]), dtype=np.float32)
    out[:available] = frames
    return out, available


class StoreSet:
    """Several feature stores (e.g. one per split) read as one: ``stores[clip_id]``."""

    def __init__(self, stores: Sequence[FeatureStore]) -> None:
        if not stores:
            raise StoreError("StoreSet needs at least one feature store")
        self.stores = list(stores)
        first = self.stores[0]
        for store in self.stores[1:]:
            if store.frontend_hash != first.frontend_hash:
                raise StoreError(f"{store.directory} and {first.directory} hold different front-ends")
        self.frontend = first.frontend
        self.frontend_hash = first.frontend_hash
        self.dim = first.dim
        self._owner: dict[str, FeatureStore] = {}
        for store in self.stores:
            for clip in store.clip_ids.tolist():
                self._owner[clip] = store

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._owner

    def __getitem__(self, clip_id: str) -> np.ndarray:
        try:
            return self._owner[clip_id][clip_id]
        except KeyError:
            raise StoreError(
                f"clip {clip_id!r} has no features in {[str(s.directory) for s in self.stores]}"
            ) from None

    def num_frames(self, clip_id: str) -> int:
        """Frames of one clip."""
        store = self._owner[clip_id]
        return int(store.num_frames[store.position(clip_id)])

    def check_labels(self, labels: Labels) -> None:
        """Raise naming the first clip of ``labels`` that has no features."""
        absent = [c for c in labels.clip_ids.tolist() if c not in self._owner]
        if absent:
            raise StoreError(f"{len(absent)} labeled clips have no features, e.g. {absent[0]!r}")


class SegmentDataset(Dataset[tuple[np.ndarray, int, int]]):
    """Item ``i``: a segment of clip ``labels.clip_ids[i]``, its valid frames and the row ``i``."""

    def __init__(
        self,
        stores: StoreSet,
        labels: Labels,
        *,
        segment_frames: int,
        policy: CropPolicy = "random",
        seed: int = 0,
        short_crop_share: float = 0.0,
        short_crop_min_frames: int = 1,
    ) -> None:
        if not 0.0 <= short_crop_share <= 1.0:
            raise ValueError(f"short_crop_share must be in [0, 1], got {short_crop_share}")
        if labels.num_clips == 0:
            raise ValueError("the training selection is empty: no clips to train on")
        stores.check_labels(labels)
        self.stores = stores
        self.labels = labels
        self.segment_frames = segment_frames
        self.policy = policy
        self.seed = seed
        self.short_crop_share = short_crop_share
        self.short_crop_min_frames = max(1, min(short_crop_min_frames, segment_frames))
        self.epoch = 0
        self._positive = torch.from_numpy(labels.positive.astype(np.float32))
        self._annotated = torch.from_numpy(labels.annotated.astype(np.float32))
        self._labeled = torch.from_numpy(labels.source != "unlabeled")

    @classmethod
    def for_training(
        cls, stores: StoreSet, labels: Labels, config: TrainConfig, segmenting: Segmenting, frame_rate: float
    ) -> SegmentDataset:
        """The training crops a config asks for (``crop``, ``short_crop_*``, ``seed``).

        Warns when the segment is far longer than the longest clip (see
        :func:`warn_if_segment_dwarfs_clips`).
        """
        warn_if_segment_dwarfs_clips(stores, labels, segmenting, frame_rate)
        return cls(
            stores,
            labels,
            segment_frames=segmenting.segment_frames,
            policy=config.crop,
            seed=config.seed,
            short_crop_share=config.short_crop_share,
            short_crop_min_frames=round(config.short_crop_min_seconds * frame_rate),
        )

    def set_epoch(self, epoch: int) -> None:
        """Crops of epoch ``epoch`` (called by the Trainer)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.labels.num_clips

    def __getitem__(self, row: int) -> tuple[np.ndarray, int, int]:
        clip = str(self.labels.clip_ids[row])
        rng = np.random.default_rng((self.seed, self.epoch, row)) if self.policy == "random" else None
        length = self._crop_length(row)
        segment, valid = crop_segment(self.stores[clip], length, self.policy, rng)
        if length < self.segment_frames:  # a short crop, padded back to the segment length
            padded = np.zeros((self.segment_frames, segment.shape[1]), dtype=np.float32)
            padded[:length] = segment
            segment = padded
        return segment, valid, row

    def _crop_length(self, row: int) -> int:
        """The segment length, or for a share of draws a shorter one (uniform in frames)."""
        if self.short_crop_share <= 0.0:
            return self.segment_frames
        rng = np.random.default_rng((self.seed, self.epoch, row, 1))
        if rng.random() >= self.short_crop_share:
            return self.segment_frames
        return int(rng.integers(self.short_crop_min_frames, self.segment_frames + 1))

    def batch(self, items: Sequence[tuple[np.ndarray, int, int]]) -> Batch:
        """Collate items into a :class:`Batch`."""
        rows = [row for _, _, row in items]
        index = torch.tensor(rows, dtype=torch.long)
        return Batch(
            features=torch.from_numpy(np.stack([segment for segment, _, _ in items])),
            lengths=torch.tensor([valid for _, valid, _ in items], dtype=torch.long),
            positive=self._positive[index],
            annotated=self._annotated[index],
            labeled=self._labeled[index],
            clip_ids=tuple(str(self.labels.clip_ids[r]) for r in rows),
            sources=tuple(str(self.labels.source[r]) for r in rows),
        )


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch (``shuffle``) or the natural order; shardable by rank."""

    def __init__(self, size: int, *, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start = 0  # indices of this epoch to skip (a resumed run starts mid-epoch)

    def set_epoch(self, epoch: int) -> None:
        """Order of epoch ``epoch``."""
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.size)

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        per_rank = -(-self.size // self.world_size)
        padded = np.resize(order, per_rank * self.world_size)  # repeat the head to even out ranks
        return iter(padded[self.rank :: self.world_size][self.start :].tolist())

    def __len__(self) -> int:
        return -(-self.size // self.world_size)


class BalancedSampler(EpochSampler):
    """Draws clips with probability inversely proportional to their rarest class's frequency.

    Oversampling rare classes (as the Kaggle systems did); clips with no positive get the
    weight of the average class. ``size`` draws per epoch, with replacement.
    """

    def __init__(self, labels: Labels, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(labels.num_clips, shuffle=True, seed=seed, rank=rank, world_size=world_size)
        counts = labels.positive.sum(0).astype(np.float64)
        inverse = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
        weight = (labels.positive * inverse).max(1)
        weight[weight == 0] = inverse[inverse > 0].mean() if (inverse > 0).any() else 1.0
        self.probabilities = weight / weight.sum()

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng((self.seed, self.epoch))
        return rng.choice(self.size, size=self.size, replace=True, p=self.probabilities)


class LabeledUnlabeledBatches(Sampler[list[int]]):
    """Batches of ``labeled_per_batch`` labeled and ``unlabeled_per_batch`` unlabeled clips.

    An epoch is one pass over the labeled clips (in a seeded permutation); the unlabeled clips
    are drawn from their own permutations, cycled as often as needed. ``labeled`` is a boolean
    ``(clips,)`` array; with ranks, each rank takes every ``world_size``-th batch.
    """

    def __init__(
        self,
        labeled: np.ndarray,
        *,
        labeled_per_batch: int,
        unlabeled_per_batch: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.labeled_rows = np.flatnonzero(labeled)
        self.unlabeled_rows = np.flatnonzero(~np.asarray(labeled, dtype=bool))
        if labeled_per_batch <= 0 or unlabeled_per_batch < 0:
            raise ValueError("labeled_per_batch must be positive and unlabeled_per_batch non-negative")
        if len(self.labeled_rows) < labeled_per_batch:
            raise ValueError(
                f"{len(self.labeled_rows)} labeled clips cannot fill {labeled_per_batch} per batch"
            )
        if unlabeled_per_batch and not len(self.unlabeled_rows):
            raise ValueError("the selection has no unlabeled clips to put in each batch")
        self.k, self.m, self.seed = labeled_per_batch, unlabeled_per_batch, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start = 0  # batches of this epoch to skip (resume)

    def set_epoch(self, epoch: int) -> None:
        """Order of epoch ``epoch``."""
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        labeled = rng.permutation(self.labeled_rows)
        count = len(labeled) // self.k
        needed = count * self.m
        pool = self.unlabeled_rows
        draws = [rng.permutation(pool) for _ in range(-(-needed // max(len(pool), 1)))] if needed else []
        unlabeled = np.concatenate(draws)[:needed] if draws else np.zeros(0, dtype=np.int64)
        return [
            labeled[i * self.k : (i + 1) * self.k].tolist()
            + unlabeled[i * self.m : (i + 1) * self.m].tolist()
            for i in range(count)
        ]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()[: len(self) * self.world_size]  # every rank gets as many
        return iter(batches[self.rank :: self.world_size][self.start :])

    def __len__(self) -> int:
        return (len(self.labeled_rows) // self.k) // self.world_size


@dataclasses.dataclass
class TrainLoader:
    """The training DataLoader with its resumable sampler, built from a config's ``sampler``."""

    loader: DataLoader[tuple[np.ndarray, int, int]]  # yields Batch through its collate_fn
    sampler: EpochSampler | LabeledUnlabeledBatches
    steps_per_epoch: int
    batch_size: int

    @classmethod
    def build(
        cls,
        dataset: SegmentDataset,
        labels: Labels,
        config: TrainConfig,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> TrainLoader:
        """``shuffle``, ``balanced`` or ``labeled_unlabeled`` batches of ``config.batch_size``."""
        # the loader gets its own generator: creating an iterator must not draw from the global
        # one, or a run resumed mid-epoch would see other dropout masks than an uninterrupted one
        generator = torch.Generator().manual_seed(config.seed)
        if config.sampler == "labeled_unlabeled":
            labeled = labels.source != "unlabeled"
            k = config.labeled_per_batch or max(1, config.batch_size // 2)
            if labeled.all():  # e.g. a filter stage that kept every clip: nothing to mix in
                logger.warning(
                    "sampler labeled_unlabeled: the selection has no unlabeled clip; every batch "
                    "holds %d labeled clips",
                    config.batch_size,
                )
                k = config.batch_size
            batches = LabeledUnlabeledBatches(
                labeled,
                labeled_per_batch=k,
                unlabeled_per_batch=config.batch_size - k,
                seed=config.seed,
                rank=rank,
                world_size=world_size,
            )
            loader = DataLoader(
                dataset,
                batch_sampler=batches,
                collate_fn=dataset.batch,
                num_workers=config.num_workers,
                generator=generator,
            )
            return cls(loader, batches, max(1, len(batches)), config.batch_size)
        if config.sampler == "balanced":
            sampler: EpochSampler = BalancedSampler(
                labels, seed=config.seed, rank=rank, world_size=world_size
            )
        else:
            sampler = EpochSampler(
                len(dataset), shuffle=True, seed=config.seed, rank=rank, world_size=world_size
            )
        per_rank = len(sampler)
        loader = DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=sampler,
            drop_last=per_rank >= config.batch_size,
            collate_fn=dataset.batch,
            num_workers=config.num_workers,
            generator=generator,
        )
        return cls(loader, sampler, max(1, per_rank // config.batch_size), config.batch_size)

    def seek(self, epoch: int, position: int) -> None:
        """Make the next iteration yield epoch ``epoch`` from its batch ``position`` on."""
        self.sampler.set_epoch(epoch)
        if isinstance(self.sampler, LabeledUnlabeledBatches):
            self.sampler.start = position
        else:
            self.sampler.start = position * self.batch_size


def warn_if_segment_dwarfs_clips(
    stores: StoreSet, labels: Labels, segmenting: Segmenting, frames_per_second: float
) -> None:
    """Warn when a segment is more than 4x the longest of ``labels``' clips (most of it padding)."""
    longest = max(stores.num_frames(c) for c in labels.clip_ids.tolist())
    segment = segmenting.segment_frames
    if segment > 4 * longest:
        rate = frames_per_second
        warnings.warn(
            f"the segment is {segment} frames ({segment / rate:.2f} s) but the longest training "
            f"clip has {longest} frames ({longest / rate:.2f} s): most of every segment is "
            f"padding (masked, but wasted work); set segment_seconds near the clip length",
            UserWarning,
            stacklevel=4,
        )

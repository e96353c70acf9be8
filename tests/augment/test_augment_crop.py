from __future__ import annotations

import numpy as np
import pytest
import torch

from earmark.augment import CropParams, RandomCrop, RandomCropConfig, crop_clip
from earmark.config import ConfigError


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def clip(frames: int) -> np.ndarray:
    return (np.arange(frames * 3, dtype=np.float32).reshape(frames, 3)) + 1.0


def test_head_takes_the_start() -> None:
    crop = RandomCrop(RandomCropConfig(crop_frames=4, policy="head"))(clip(10), seeded(0))
    np.testing.assert_array_equal(crop.features, clip(10)[:4])
    assert crop.valid_frames == 4


def test_random_crops_lie_inside_the_clip_and_cover_every_start() -> None:
    cropper = RandomCrop(RandomCropConfig(crop_frames=4, policy="random"))
    generator = seeded(0)
    starts = set()
    for _ in range(200):
        crop = cropper(clip(10), generator)
        start = int(crop.features[0, 0] - 1) // 3
        np.testing.assert_array_equal(crop.features, clip(10)[start : start + 4])
        starts.add(start)
    assert starts == set(range(7))


@pytest.mark.parametrize("policy", ["head", "random"])
def test_short_clips_are_zero_padded(policy: str) -> None:
    crop = RandomCrop(RandomCropConfig(crop_frames=8, policy=policy))(clip(3), seeded(0))
    assert crop.features.shape == (8, 3)
    assert crop.features.dtype == np.float32
    np.testing.assert_array_equal(crop.features[:3], clip(3))
    assert (crop.features[3:] == 0).all()
    assert crop.valid_frames == 3


def test_torch_clips_give_torch_crops_and_are_not_modified() -> None:
    source = torch.from_numpy(clip(10)).double()
    original = source.clone()
    crop = RandomCrop(RandomCropConfig(crop_frames=12))(source, seeded(0))
    assert isinstance(crop.features, torch.Tensor)
    assert crop.features.dtype == torch.float64
    assert crop.features.shape == (12, 3)
    assert crop.valid_frames == 10
    crop.features.add_(1.0)
    assert torch.equal(source, original)


def test_memory_mapped_clips(tmp_path) -> None:
    path = tmp_path / "frames.f32"
    data = np.memmap(path, dtype=np.float32, mode="w+", shape=(50, 3))
    data[:] = clip(50)
    data.flush()
    frames = np.memmap(path, dtype=np.float32, mode="r", shape=(50, 3))
    crop = RandomCrop(RandomCropConfig(crop_frames=5))(frames, seeded(1))
    assert not isinstance(crop.features, np.memmap)
    crop.features[:] = 0  # a copy: the store is read-only
    assert frames[0, 0] == 1.0


def test_seeded_repeatability_and_sampling() -> None:
    cropper = RandomCrop(RandomCropConfig(crop_frames=5))
    assert cropper.sample(100, seeded(3)) == cropper.sample(100, seeded(3))
    assert len({cropper.sample(100, seeded(s)).start for s in range(10)}) > 1
    assert cropper.sample(5, seeded(0)) == CropParams(start=0, valid_frames=5)


def test_bad_input() -> None:
    cropper = RandomCrop()
    with pytest.raises(ValueError, match="a clip needs at least one frame"):
        cropper(np.zeros((0, 64), dtype=np.float32), seeded(0))
    with pytest.raises(ValueError, match=r"shape \(frames, dim\), got \(100,\)"):
        cropper(np.zeros(100, dtype=np.float32), seeded(0))
    with pytest.raises(ValueError, match="crop start 20 is outside the clip of 10 frames"):
        crop_clip(clip(10), 20, 4)
    with pytest.raises(ConfigError, match="crop_frames must be positive"):
        RandomCrop.from_options({"crop_frames": 0})
    with pytest.raises(ConfigError, match="unknown config key frames"):
        RandomCrop.from_options({"frames": 10})

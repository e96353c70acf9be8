from __future__ import annotations

import math

import pytest
import torch

from earmark.augment import (
    Gain,
    GainConfig,
    Mixup,
    MixupConfig,
    MixupParams,
    RandomErasing,
    RandomErasingConfig,
    SpecAugment,
    SpecAugmentConfig,
)
from earmark.config import ConfigError


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# SpecAugment ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "max_frames", "max_bins"),
    [
        ({}, 15, 9),
        ({"max_time_frames": 4, "max_freq_bins": 20}, 4, 9),
        ({"max_time_fraction": None, "max_time_frames": 30}, 30, 9),
    ],
)
def test_specaugment_masks_lie_within_their_widths(options: dict, max_frames: int, max_bins: int) -> None:
    # 100 frames × 64 bins: 15 % gives at most 15 frames and 9 bins
    transform = SpecAugment(SpecAugmentConfig(**options))
    features = torch.rand(200, 100, 64) + 1.0
    params = transform.sample(200, 100, 64, seeded(0))
    assert (params.time_widths <= max_frames).all()
    assert (params.freq_widths <= max_bins).all()
    assert (params.time_starts + params.time_widths <= 100).all()
    assert (params.freq_starts >= 0).all()
    out = transform.apply(features, params)
    masked_frames = (out == 0).all(dim=2).sum(dim=1)
    masked_bins = (out == 0).all(dim=1).sum(dim=1)
    assert torch.equal(masked_frames, params.time_widths[:, 0])
    assert torch.equal(masked_bins, params.freq_widths[:, 0])
    assert masked_frames.max() == max_frames  # the widest allowed width is drawn in 200 tries
    assert (out[out != 0] == features[out != 0]).all()


def test_specaugment_masks_differ_per_example_and_several_masks_stack() -> None:
    transform = SpecAugment(SpecAugmentConfig(time_masks=3, freq_masks=0, max_time_fraction=0.1))
    out = transform(torch.ones(8, 100, 4), seeded(1))
    masked = (out == 0).all(dim=2)
    assert len({tuple(row.tolist()) for row in masked}) == 8
    assert (masked.sum(dim=1) <= 30).all()


def test_specaugment_mean_fill() -> None:
    transform = SpecAugment(SpecAugmentConfig(fill="mean", max_time_fraction=0.5, freq_masks=0))
    features = torch.arange(2 * 20 * 3, dtype=torch.float32).reshape(2, 20, 3)
    params = transform.sample(2, 20, 3, seeded(0))
    out = transform.apply(features, params)
    for example in range(2):
        start, width = int(params.time_starts[example, 0]), int(params.time_widths[example, 0])
        expected = features[example].mean()
        assert (out[example, start : start + width] == expected).all()


def test_specaugment_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="max_freq_fraction must be in"):
        SpecAugmentConfig(max_freq_fraction=1.5)
    with pytest.raises(ConfigError, match="time_masks and freq_masks must be >= 0"):
        SpecAugmentConfig(time_masks=-1)


# mixup ---------------------------------------------------------------------------------------


@pytest.fixture
def labels() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    features = torch.randn(4, 10, 3)
    positive = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)
    annotated = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 1, 0]], dtype=torch.bool)
    return features, positive, annotated


def test_mixup_with_weight_one_is_the_identity(labels: tuple[torch.Tensor, ...]) -> None:
    features, positive, annotated = labels
    params = MixupParams(weights=torch.ones(4, dtype=torch.float64), partners=torch.tensor([1, 2, 3, 0]))
    mixed = Mixup().mix(features, positive, annotated, params)
    assert torch.equal(mixed.features, features)
    assert torch.equal(mixed.positive, positive.float())
    assert torch.equal(mixed.annotated, annotated)
    identity = MixupParams(weights=torch.full((4,), 0.3, dtype=torch.float64), partners=torch.arange(4))
    mixed = Mixup().mix(features, positive, annotated, identity)
    torch.testing.assert_close(mixed.features, features)
    assert torch.equal(mixed.annotated, annotated)


def test_mixup_mixes_features_and_targets_linearly(labels: tuple[torch.Tensor, ...]) -> None:
    features, positive, annotated = labels
    weights = torch.tensor([0.25, 0.5, 0.0, 0.9], dtype=torch.float64)
    partners = torch.tensor([1, 0, 3, 2])
    mixed = Mixup().mix(features, positive, annotated, MixupParams(weights, partners))
    lam = weights.float()
    torch.testing.assert_close(
        mixed.features, lam[:, None, None] * features + (1 - lam[:, None, None]) * features[partners]
    )
    torch.testing.assert_close(mixed.positive[0], torch.tensor([0.25, 0.75, 0.0]))
    torch.testing.assert_close(mixed.positive[2], positive[3].float())  # weight 0: the partner alone
    assert mixed.positive.dtype == torch.float32
    # AND rule: known only where known in both clips (a clip with weight 0 does not count)
    assert mixed.annotated[0].tolist() == [True, True, False]
    assert mixed.annotated[1].tolist() == [True, True, False]
    assert mixed.annotated[2].tolist() == annotated[3].tolist()


def test_mixup_positives_known_rule(labels: tuple[torch.Tensor, ...]) -> None:
    features, positive, annotated = labels
    params = MixupParams(torch.full((4,), 0.5, dtype=torch.float64), torch.tensor([2, 3, 0, 1]))
    both = Mixup().mix(features, positive, annotated, params)
    lenient = Mixup(MixupConfig(annotated_rule="positives_known")).mix(features, positive, annotated, params)
    # clip 0 (dog known, siren unknown) with clip 2 (siren known positive, dog unknown)
    assert both.annotated[0].tolist() == [False, True, False]
    assert lenient.annotated[0].tolist() == [True, True, True]
    torch.testing.assert_close(lenient.positive[0], torch.tensor([0.5, 0.0, 0.5]))
    assert (lenient.annotated >= both.annotated).all()


def test_mixup_targets_stay_in_range_and_dtypes_follow_the_input() -> None:
    generator = seeded(0)
    features = torch.randn(64, 5, 2)
    positive = torch.rand(64, 7, generator=generator)
    annotated = (torch.rand(64, 7, generator=generator) > 0.3).float()
    mixed = Mixup(MixupConfig(alpha=1.0)).mix_batch(features, positive, annotated, seeded(1))
    assert mixed.positive.min() >= 0
    assert mixed.positive.max() <= 1
    assert mixed.annotated.dtype == torch.float32
    assert set(mixed.annotated.unique().tolist()) <= {0.0, 1.0}
    assert mixed.annotated.sum() <= annotated.sum()


def test_mixup_weights_follow_beta() -> None:
    params = Mixup(MixupConfig(alpha=0.2)).sample(20000, 1, 1, seeded(0))
    assert abs(params.weights.mean().item() - 0.5) < 0.02
    assert ((params.weights < 0.05) | (params.weights > 0.95)).float().mean() > 0.5  # U-shaped for α < 1
    assert sorted(params.partners.tolist()) == list(range(20000))
    assert (Mixup(MixupConfig(p=0.0)).sample(10, 1, 1, seeded(0)).weights == 1).all()


def test_mixup_refuses_mismatched_targets(labels: tuple[torch.Tensor, ...]) -> None:
    features, positive, annotated = labels
    with pytest.raises(ValueError, match=r"must both be \(batch=4, classes\)"):
        Mixup().mix_batch(features, positive[:3], annotated[:3], seeded(0))
    with pytest.raises(ConfigError, match="alpha must be positive"):
        MixupConfig(alpha=0.0)


# gain ----------------------------------------------------------------------------------------


def test_gain_in_the_log_power_domain_adds_the_exact_constant() -> None:
    transform = Gain(GainConfig(min_gain_db=-12.0, max_gain_db=12.0))
    features = torch.randn(5, 30, 8, dtype=torch.float64)
    params = transform.sample(5, 30, 8, seeded(0))
    shift = transform.apply(features, params) - features
    expected = params.gain_db * math.log(10.0) / 10.0
    torch.testing.assert_close(shift, expected[:, None, None].expand_as(shift))
    # 10 dB is a factor of 10 in power: ln(10) in natural-log power
    ten = Gain(GainConfig(min_gain_db=10.0, max_gain_db=10.0))
    torch.testing.assert_close(ten(features, seeded(0)) - features, torch.full_like(features, math.log(10.0)))


def test_gain_in_the_log_magnitude_and_waveform_domains() -> None:
    features = torch.rand(3, 20, 4, dtype=torch.float64) + 0.1
    magnitude = Gain(GainConfig(min_gain_db=20.0, max_gain_db=20.0, domain="log_magnitude"))
    torch.testing.assert_close(
        magnitude(features, seeded(0)) - features, torch.full_like(features, math.log(10.0))
    )
    waveform = Gain(GainConfig(min_gain_db=-20.0, max_gain_db=6.0, domain="waveform"))
    params = waveform.sample(3, 20, 4, seeded(1))
    ratio = waveform.apply(features, params) / features
    torch.testing.assert_close(ratio, (10.0 ** (params.gain_db / 20.0))[:, None, None].expand_as(ratio))


def test_gain_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"min_gain_db \(3.0\) exceeds max_gain_db \(1.0\)"):
        GainConfig(min_gain_db=3.0, max_gain_db=1.0)


# random erasing ------------------------------------------------------------------------------


def test_erasing_draws_one_rectangle_of_the_configured_area() -> None:
    config = RandomErasingConfig(
        p=1.0, min_area_fraction=0.1, max_area_fraction=0.2, fill="constant", fill_value=-99.0
    )
    transform = RandomErasing(config)
    out = transform(torch.zeros(300, 40, 40), seeded(0))
    erased = out == -99.0
    area = erased.sum(dim=(1, 2)).float() / 1600
    assert (area > 0.05).all()
    assert (area < 0.3).all()
    frames, bins = erased.any(dim=2).sum(dim=1), erased.any(dim=1).sum(dim=1)
    assert torch.equal(erased.sum(dim=(1, 2)), frames * bins)  # a rectangle


def test_erasing_noise_follows_the_example_statistics() -> None:
    transform = RandomErasing(RandomErasingConfig(p=1.0, min_area_fraction=0.5, max_area_fraction=0.5))
    features = torch.randn(4, 100, 64) * 3.0 + 5.0
    params = transform.sample(4, 100, 64, seeded(0))
    out = transform.apply(features, params)
    changed = out != features
    assert abs(out[changed].mean().item() - 5.0) < 0.2
    assert abs(out[changed].std().item() - 3.0) < 0.2


def test_erasing_probability() -> None:
    params = RandomErasing(RandomErasingConfig(p=0.3)).sample(4000, 20, 20, seeded(0))
    assert abs((params.frame_counts > 0).float().mean().item() - 0.3) < 0.03


def test_mel_shift_moves_bands_and_fills_with_the_minimum_or_the_edge() -> None:
    from earmark.augment import MelShift, MelShiftParams, shift_bands

    features = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(2, 3, 5)
    shift = torch.tensor([2, -1])
    up = shift_bands(features, shift)
    # example 0 moved up two bands: its lowest two take its minimum (0.0)
    torch.testing.assert_close(up[0, :, 2:], features[0, :, :3])
    assert torch.all(up[0, :, :2] == features[0].min())
    # example 1 moved down one band: the top band takes its own minimum (15.0)
    torch.testing.assert_close(up[1, :, :4], features[1, :, 1:])
    assert torch.all(up[1, :, 4] == features[1].min())
    edge = shift_bands(features, shift, fill="edge")
    torch.testing.assert_close(edge[0, :, 0], features[0, :, 0])
    torch.testing.assert_close(edge[1, :, 4], features[1, :, 4])
    # a shift as wide as the image leaves only the fill
    assert torch.all(shift_bands(features, torch.tensor([5, -9]))[0] == 0.0)
    # the drawn shifts cover the whole range, both ways, and no more
    transform = MelShift.from_options({"max_shift_bands": 3})
    drawn = transform.sample(4000, 3, 5, torch.Generator().manual_seed(0)).shift_bands
    assert set(drawn.tolist()) == {-3, -2, -1, 0, 1, 2, 3}
    assert isinstance(transform.sample(2, 3, 5, torch.Generator()), MelShiftParams)


def test_mel_shift_bad_options_are_refused() -> None:
    from earmark.augment import build_augmentation
    from earmark.config import ConfigError

    with pytest.raises(ConfigError, match="max_shift_bands"):
        build_augmentation("mel_shift", {"max_shift_bands": -1})
    with pytest.raises(ConfigError, match="fill"):
        build_augmentation("mel_shift", {"fill": "zero"})


def test_time_shift_rolls_within_the_valid_frames_and_keeps_the_padding() -> None:
    from earmark.augment import roll_frames

    features = torch.randn(3, 10, 4, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([3, -2, 7])
    # every frame valid: the same as torch.roll along time
    full = roll_frames(features, shift)
    for row in range(3):
        torch.testing.assert_close(full[row], torch.roll(features[row], int(shift[row]), dims=0))
    # rows of 10, 6 and 1 valid frames: each rolled inside its own length, the padding untouched
    lengths = torch.tensor([10, 6, 1])
    rolled = roll_frames(features, shift, lengths)
    torch.testing.assert_close(rolled[0], torch.roll(features[0], 3, dims=0))
    torch.testing.assert_close(rolled[1, :6], torch.roll(features[1, :6], -2, dims=0))
    torch.testing.assert_close(rolled[1, 6:], features[1, 6:])
    torch.testing.assert_close(rolled[2], features[2])


def test_time_shift_draws_shares_of_each_length_in_range() -> None:
    from earmark.augment import TimeShift, TimeShiftParams

    transform = TimeShift.from_options({"max_shift_fraction": 0.25})
    drawn = transform.sample(4000, 40, 2, torch.Generator().manual_seed(0)).fraction
    assert drawn.abs().max() <= 0.25
    assert drawn.min() < -0.24
    assert drawn.max() > 0.24
    # a share of 0.25 of a 40-frame clip is 10 frames, of an 8-frame clip 2 frames
    features = torch.arange(2 * 40, dtype=torch.float32).reshape(2, 40, 1)
    params = TimeShiftParams(torch.tensor([0.25, 0.25], dtype=torch.float64))
    out = transform.apply_valid(features, torch.tensor([40, 8]), params)
    torch.testing.assert_close(out[0, :, 0], torch.roll(features[0, :, 0], 10))
    torch.testing.assert_close(out[1, :8, 0], torch.roll(features[1, :8, 0], 2))
    torch.testing.assert_close(out[1, 8:], features[1, 8:])
    with pytest.raises(ValueError, match="one length per example"):
        transform.apply_valid(features, torch.tensor([40]), params)


def test_the_training_augment_passes_each_batch_its_lengths() -> None:
    from earmark.batch import Batch
    from earmark.training.augmentation import build_augment

    augment = build_augment({"time_shift": {}})
    assert augment is not None
    features = torch.arange(2 * 12, dtype=torch.float32).reshape(2, 12, 1)
    batch = Batch(
        features=features,
        positive=torch.zeros(2, 3),
        annotated=torch.ones(2, 3),
        labeled=torch.ones(2, dtype=torch.bool),
        clip_ids=("a", "b"),
        sources=("curated", "curated"),
        lengths=torch.tensor([12, 5]),
    )
    seen = set()
    for seed in range(20):
        out = augment(batch, torch.Generator().manual_seed(seed)).features
        # the short clip's padding never moves, and its valid frames are a rotation of its own
        torch.testing.assert_close(out[1, 5:], features[1, 5:])
        assert sorted(out[1, :5, 0].tolist()) == features[1, :5, 0].tolist()
        seen.add(int(out[1, 0, 0]))
    assert len(seen) > 1


def test_time_shift_bad_options_are_refused() -> None:
    from earmark.augment import build_augmentation

    with pytest.raises(ConfigError, match="max_shift_fraction"):
        build_augmentation("time_shift", {"max_shift_fraction": 1.5})

"""The contract every registered batch augmentation must pass.

Adding a transform means adding its name to ``NOOP_OPTIONS`` with the options that make it
leave its input unchanged (probability 0, zero width, ...).
"""

from __future__ import annotations

import pytest
import torch

from earmark.augment import AUGMENTATIONS, Compose, build_augmentation
from earmark.config import ConfigError

NOOP_OPTIONS: dict[str, list[dict[str, object]]] = {
    "specaugment": [
        {"p": 0.0},
        {"max_time_fraction": 0.0, "max_freq_fraction": 0.0},
        {"time_masks": 0, "freq_masks": 0},
    ],
    "mixup": [{"p": 0.0}],
    "erasing": [{"p": 0.0}, {"min_area_fraction": 0.0, "max_area_fraction": 0.0}],
    "gain": [{"p": 0.0}, {"min_gain_db": 0.0, "max_gain_db": 0.0}],
    "mel_shift": [{"p": 0.0}, {"max_shift_bands": 0}],
    "time_shift": [{"p": 0.0}, {"max_shift_fraction": 0.0}],
}
NAMES = sorted(NOOP_OPTIONS)


def batch(dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.randn(6, 50, 16, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_registered_transform_has_a_case() -> None:
    assert set(AUGMENTATIONS) == set(NOOP_OPTIONS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_and_dtype_are_kept_and_the_input_is_not_modified(name: str, dtype: torch.dtype) -> None:
    features = batch(dtype)
    original = features.clone()
    out = build_augmentation(name)(features, seeded(1))
    assert out.shape == features.shape
    assert out.dtype == dtype
    assert torch.equal(features, original)
    assert not torch.equal(out, features)


@pytest.mark.parametrize("name", NAMES)
def test_a_seed_repeats_and_another_seed_differs(name: str) -> None:
    transform = build_augmentation(name)
    features = batch()
    first, again, other = (transform(features, seeded(s)) for s in (7, 7, 8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_separate_from_applying(name: str) -> None:
    transform = build_augmentation(name)
    features = batch()
    params = transform.sample(6, 50, 16, seeded(3))
    applied = transform.apply(features, params)
    assert torch.equal(applied, transform.apply(features, params))
    assert torch.equal(applied, transform(features, seeded(3)))
    # the same parameters give the same change to another batch of the same shape (two views)
    assert not torch.equal(transform.apply(batch(seed=1), params), applied)


@pytest.mark.parametrize("name", NAMES)
def test_noop_options_leave_the_input_unchanged(name: str) -> None:
    features = batch()
    for options in NOOP_OPTIONS[name]:
        assert torch.equal(build_augmentation(name, options)(features, seeded(2)), features), options


@pytest.mark.parametrize("name", NAMES)
def test_global_random_state_is_not_used(name: str) -> None:
    transform = build_augmentation(name)
    features = batch()
    torch.manual_seed(0)
    first = transform(features, seeded(5))
    torch.manual_seed(1)
    assert torch.equal(transform(features, seeded(5)), first)
    state = torch.get_rng_state()
    transform(features, seeded(5))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused(name: str) -> None:
    transform = build_augmentation(name)
    with pytest.raises(ValueError, match=r"shape \(batch, frames, dim\), got \(50, 16\)"):
        transform(torch.zeros(50, 16), seeded(0))
    with pytest.raises(ValueError, match="floating-point"):
        transform(torch.zeros(2, 50, 16, dtype=torch.int64), seeded(0))
    params = transform.sample(4, 50, 16, seeded(0))
    with pytest.raises(ValueError, match="parameters are for"):
        transform.apply(batch(), params)
    with pytest.raises(ConfigError, match=f"augmentation '{name}': unknown config key probability"):
        build_augmentation(name, {"probability": 0.5})
    with pytest.raises(ConfigError, match="p must be in"):
        build_augmentation(name, {"p": 1.5})


def test_unknown_augmentation_lists_the_valid_names() -> None:
    with pytest.raises(
        ConfigError,
        match=(
            "unknown augmentation 'pitch'; known augmentations: erasing, gain, mel_shift, mixup, specaugment"
        ),
    ):
        build_augmentation("pitch")


def test_duplicate_registration_raises() -> None:
    from earmark.augment import register_augmentation
    from earmark.augment.gain import Gain

    with pytest.raises(ValueError, match="augmentation 'gain' is already registered"):
        register_augmentation("gain")(Gain)


def test_compose_applies_in_order_with_one_generator() -> None:
    gain = build_augmentation("gain", {"min_gain_db": 10.0, "max_gain_db": 10.0})
    masks = build_augmentation("specaugment", {"max_time_fraction": 0.5})
    features = batch()
    composed = Compose([gain, masks])
    out = composed(features, seeded(4))
    generator = seeded(4)
    gain_params, mask_params = gain.sample(6, 50, 16, generator), masks.sample(6, 50, 16, generator)
    assert torch.equal(out, masks.apply(gain.apply(features, gain_params), mask_params))
    assert (out == 0).any()  # the masks come after the gain, so masked values stay zero
    with pytest.raises(ValueError, match="2 transforms but got 1 parameters"):
        composed.apply(features, (gain_params,))

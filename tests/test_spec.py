from __future__ import annotations

import pytest

from earmark.config import ConfigError
from earmark.features.logmel import LogMelConfig
from earmark.spec import SpecMismatchError, TaggingSpec


def test_round_trip_and_hash():
    spec = TaggingSpec(("dog", "rain"), LogMelConfig(n_mels=128), segment_frames=64)
    again = TaggingSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.frontend_hash == spec.frontend_hash
    assert spec.num_classes == 2
    assert spec.sample_rate == 16000
    assert TaggingSpec(("dog",), LogMelConfig(n_mels=64)).frontend_hash != spec.frontend_hash


def test_tampered_hash_is_refused():
    data = TaggingSpec(("dog",)).to_dict()
    data["frontend_hash"] = "0" * 16
    with pytest.raises(SpecMismatchError, match="does not match its config"):
        TaggingSpec.from_dict(data)


def test_differences_say_what_differs():
    a = TaggingSpec(("dog", "rain"), LogMelConfig(n_mels=64))
    b = TaggingSpec(("rain", "dog"), LogMelConfig(n_mels=128))
    with pytest.raises(SpecMismatchError, match=r"different order.*n_mels \(64 vs 128\)"):
        a.check_compatible(b)
    a.check_compatible(TaggingSpec(("dog", "rain"), LogMelConfig(n_mels=64)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"class_names": ()}, "at least one class"),
        ({"class_names": ("a", "a")}, "duplicated class names: a"),
        ({"class_names": ("a",), "segment_frames": 0}, "segment_frames"),
    ],
)
def test_bad_specs(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TaggingSpec(**kwargs)


def test_unknown_class_lists_vocabulary():
    with pytest.raises(ConfigError, match=r"unknown class 'cat'.*dog"):
        TaggingSpec(("dog",)).class_index("cat")
    with pytest.raises(ConfigError, match="unknown spec key colour"):
        TaggingSpec.from_dict({"class_names": ["a"], "colour": 1})

from __future__ import annotations

import dataclasses

import pytest

from earmark.config import ConfigError
from earmark.data.loaders import LOADERS, load_dataset

LAYOUTS = ["audioset", "crowd", "csv", "esc50", "files", "folder", "fsdkaggle2019", "openmic", "sonyc_ust"]


def test_every_layout_is_registered():
    assert sorted(LOADERS) == LAYOUTS


@pytest.mark.parametrize("layout", LAYOUTS)
def test_options_are_frozen_dataclasses_with_a_summary(layout):
    entry = LOADERS.entry(layout)
    assert dataclasses.is_dataclass(entry.config_class)
    assert entry.config_class.__dataclass_params__.frozen
    assert entry.summary
    with pytest.raises(ConfigError, match=rf"unknown config key {layout}\.colour"):
        load_dataset(layout, {"colour": "red"})


def test_unknown_layout_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown layout 'esc51'; known layouts: audioset, crowd, csv"):
        load_dataset("esc51", {})

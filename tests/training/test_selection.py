from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earmark.config import ConfigError
from earmark.data.labels import Labels
from earmark.training.config import DataConfig
from earmark.training.selection import held_out_rows, select_splits


def _labels(num_clips: int) -> Labels:
    positive = np.zeros((num_clips, 2), dtype=bool)
    positive[np.arange(num_clips), np.arange(num_clips) % 2] = True
    return Labels(
        clip_ids=np.array([f"{i // 3}-{i}-A" for i in range(num_clips)], dtype=object),
        class_names=("a", "b"),
        positive=positive,
        annotated=np.ones_like(positive),
        source=np.array(["curated"] * num_clips, dtype=object),
        fold=np.arange(num_clips) % 3 + 1,
        duration_seconds=np.ones(num_clips),
    )


def test_without_a_pattern_the_held_out_share_is_the_seeded_permutation_as_before():
    labels = _labels(30)
    splits = select_splits(labels, DataConfig(prepared="p", test_folds=(3,), valid_fraction=0.3), seed=5)
    train = labels.select(exclude_folds=[3])
    order = np.random.default_rng(5).permutation(train.num_clips)
    count = round(0.3 * train.num_clips)
    assert splits["valid"].clip_ids.tolist() == train.clip_ids[np.sort(order[:count])].tolist()
    assert splits["train"].clip_ids.tolist() == train.clip_ids[np.sort(order[count:])].tolist()


def test_a_group_pattern_holds_out_whole_groups():
    labels = _labels(30)
    data = DataConfig(prepared="p", valid_fraction=0.3, group_pattern=r"^(\d+)-")
    splits = select_splits(labels, data, seed=2)
    group = {clip: clip.split("-")[0] for clip in labels.clip_ids}
    valid_groups = {group[c] for c in splits["valid"].clip_ids}
    train_groups = {group[c] for c in splits["train"].clip_ids}
    assert not valid_groups & train_groups
    assert splits["valid"].num_clips + splits["train"].num_clips == labels.num_clips


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=20),
    fraction=st.floats(0.05, 0.9),
    seed=st.integers(0, 1000),
)
def test_held_out_groups_reach_the_share_with_whole_groups(sizes, fraction, seed):
    groups = np.repeat([f"g{k}" for k in range(len(sizes))], sizes)
    held = held_out_rows(len(groups), fraction, seed=seed, groups=groups)
    target = max(1, round(fraction * len(groups)))
    assert np.all(np.diff(held) > 0)
    assert len(held) >= target
    taken = set(groups[held])
    assert len(held) == sum(size for k, size in enumerate(sizes) if f"g{k}" in taken)
    # groups are taken until the share is reached: the last one taken was needed
    assert len(held) - max(sizes[int(g[1:])] for g in taken) < target
    assert np.array_equal(held, held_out_rows(len(groups), fraction, seed=seed, groups=groups))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        held_out_rows(10, 1.0, seed=0)
    with pytest.raises(ValueError, match="3 group keys for 4 clips"):
        held_out_rows(4, 0.5, seed=0, groups=np.array(["a", "b", "c"]))
    with pytest.raises(ConfigError, match=r"data\.group_pattern needs a capturing group"):
        DataConfig(group_pattern=r"^\d+-")
    with pytest.raises(ConfigError, match=r"data\.group_pattern is not a valid regular expression"):
        DataConfig(group_pattern=r"^(\d+")

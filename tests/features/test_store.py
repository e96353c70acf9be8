from __future__ import annotations

import json

import numpy as np
import pytest

from earmark.features.logmel import LogMelConfig
from earmark.features.store import FeatureStore, StoreError, StoreWriter, merge_stores
from earmark.spec import SpecMismatchError, TaggingSpec

CONFIG = LogMelConfig(n_mels=8)


def clips(rng, n=5, dim=8):
    return [
        (f"clip{i}", rng.standard_normal((3 + i, dim)).astype(np.float32), 0.1 * (i + 1)) for i in range(n)
    ]


def test_write_read_round_trip(tmp_path, rng):
    items = clips(rng)
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    writer.append(items[:2])
    writer.append(items[2:])
    store = writer.finalize()
    assert len(store) == 5
    for clip_id, frames, duration in items:
        np.testing.assert_array_equal(store[clip_id], frames.astype(np.float16))
        assert store.duration_seconds[store.position(clip_id)] == pytest.approx(duration)
    assert store.frames.dtype == np.float16
    assert store.describe()["frames"] == sum(f.shape[0] for _, f, _ in items)
    assert not (tmp_path / "s" / "progress.jsonl").exists()
    with pytest.raises(StoreError, match="'nope' is not in the store"):
        store["nope"]


def test_order_of_index(tmp_path, rng):
    items = clips(rng, 3)
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    writer.append(items)
    store = writer.finalize(order=["clip2", "clip0", "clip1"])
    assert store.clip_ids.tolist() == ["clip2", "clip0", "clip1"]
    np.testing.assert_array_equal(store["clip2"], items[2][1].astype(np.float16))


def test_resume_after_a_kill_mid_write(tmp_path, rng):
    items = clips(rng, 6)
    directory = tmp_path / "s"
    writer = StoreWriter(directory, CONFIG, 8)
    writer.append(items[:3])
    writer.skip("bad", "cannot be decoded")
    writer.close()
    # what a kill in the middle of the next clip leaves: half its frames, half a log line
    with open(directory / "frames.f16.partial", "ab") as handle:
        handle.write(b"\x00" * 37)
    with open(directory / "progress.jsonl", "a") as handle:
        handle.write('{"clip_id": "clip3", "off')
    resumed = StoreWriter(directory, CONFIG, 8)
    assert resumed.done == {"clip0", "clip1", "clip2", "bad"}
    resumed.append(items[3:])
    store = resumed.finalize()
    reference = StoreWriter(tmp_path / "ref", CONFIG, 8)
    reference.append(items)
    ref = reference.finalize()
    assert (directory / "frames.f16").read_bytes() == (tmp_path / "ref" / "frames.f16").read_bytes()
    assert store.clip_ids.tolist() == ref.clip_ids.tolist()
    assert store.skipped == {"bad": "cannot be decoded"}


def test_an_unfinished_store_cannot_be_read(tmp_path, rng):
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    writer.append(clips(rng, 1))
    writer.close()
    with pytest.raises(StoreError, match="interrupted; run it again"):
        FeatureStore(tmp_path / "s")


def test_resuming_with_another_frontend_is_refused(tmp_path, rng):
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    writer.close()
    with pytest.raises(StoreError, match="another front-end"):
        StoreWriter(tmp_path / "s", LogMelConfig(n_mels=16), 16)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((3, 7), np.float32), r"shape \(3, 7\)"),
        (np.zeros((0, 8), np.float32), "no frames"),
        (np.full((2, 8), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_frames_are_refused(tmp_path, frames, message):
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    with pytest.raises(StoreError, match=f"clip 'x'.*{message}"):
        writer.append([("x", frames, 1.0)])


def test_spec_check(tmp_path, rng):
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    writer.append(clips(rng, 1))
    store = writer.finalize()
    TaggingSpec(("a",), CONFIG).check_frontend(store.frontend)
    with pytest.raises(
        SpecMismatchError, match=r"feature store .* do not match the spec: .*n_mels \(16 vs 8\)"
    ):
        TaggingSpec(("a",), LogMelConfig(n_mels=16)).check_frontend(
            store.frontend, what=f"feature store {store.directory}"
        )


def test_tampered_store_is_refused(tmp_path, rng):
    writer = StoreWriter(tmp_path / "s", CONFIG, 8)
    writer.append(clips(rng, 2))
    writer.finalize()
    with open(tmp_path / "s" / "frames.f16", "ab") as handle:
        handle.write(b"\x00\x00")
    with pytest.raises(StoreError, match=r"holds .* bytes"):
        FeatureStore(tmp_path / "s")
    meta = json.loads((tmp_path / "s" / "store.json").read_text())
    meta["frontend"]["n_mels"] = 9
    (tmp_path / "s" / "store.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="hash does not match"):
        FeatureStore(tmp_path / "s")


def test_merge(tmp_path, rng):
    items = clips(rng, 5)
    parts = []
    for k in range(2):
        writer = StoreWriter(tmp_path / f"p{k}", CONFIG, 8)
        writer.append(items[k::2])
        parts.append(writer.finalize().directory)
    merged = merge_stores(parts, tmp_path / "m", order=[c for c, _, _ in items])
    assert merged.clip_ids.tolist() == [c for c, _, _ in items]
    for clip_id, frames, _ in items:
        np.testing.assert_array_equal(merged[clip_id], frames.astype(np.float16))
    with pytest.raises(StoreError, match="is in both"):
        merge_stores([parts[0], parts[0]], tmp_path / "m2")
    other = StoreWriter(tmp_path / "o", LogMelConfig(n_mels=4), 4)
    other.append([("z", np.zeros((1, 4)), 1.0)])
    with pytest.raises(StoreError, match="another front-end"):
        merge_stores([parts[0], other.finalize().directory], tmp_path / "m3")


def test_clips_whose_frames_never_reached_the_disk_are_redone(tmp_path, rng):
    items = clips(rng, 4)
    directory = tmp_path / "s"
    writer = StoreWriter(directory, CONFIG, 8)
    writer.append(items)
    writer.close()
    # a machine crash: the log names all four clips, the frames file lost the last one and a half
    partial = directory / "frames.f16.partial"
    keep = sum(f.shape[0] for _, f, _ in items[:2]) * 8 * 2 + 10
    partial.write_bytes(partial.read_bytes()[:keep])
    resumed = StoreWriter(directory, CONFIG, 8)
    assert resumed.done == {"clip0", "clip1"}
    resumed.append(items[2:])
    store = resumed.finalize()
    for clip_id, frames, _ in items:
        np.testing.assert_array_equal(store[clip_id], frames.astype(np.float16))

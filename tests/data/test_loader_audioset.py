from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset
from earmark.data.loaders.audioset import audioset_clip_id
from earmark.data.loaders.tfrecord import Feature, encode_sequence_example, write_records
from earmark.features.embeddings import dequantize_uint8

CLASSES = (
    'index,mid,display_name\n0,/m/09x0r,Speech\n1,/m/05zppz,"Male speech, man speaking"\n2,/m/04rlf,Music\n'
)


def record(video: str, start: float, labels, num_frames: int = 2, dim: int = 4, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    context = {
        "video_id": Feature("bytes", (video.encode(),)),
        "start_time_seconds": Feature("float", np.array([start], np.float32)),
        "end_time_seconds": Feature("float", np.array([start + 10], np.float32)),
        "labels": Feature("int64", np.array(labels, np.int64)),
    }
    frames = [
        Feature("bytes", (rng.integers(0, 256, dim, dtype=np.uint8).tobytes(),)) for _ in range(num_frames)
    ]
    return encode_sequence_example(context, {"audio_embedding": frames})


@pytest.fixture
def small(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "records"
    folder.mkdir()
    write_records(
        folder / "a.tfrecord", [record("vidA", 30.0, [0, 2], seed=1), record("vidB", 0.5, [1], seed=2)]
    )
    write_records(folder / "b.tfrecord", [record("vidC", 12.25, [2], num_frames=3, seed=3)])
    (tmp_path / "class_labels_indices.csv").write_text(CLASSES)
    return {"records": str(folder), "class_labels": str(tmp_path / "class_labels_indices.csv")}


def test_small_shards(small):
    manifest = load_dataset("audioset", small)
    labels = manifest.labels
    assert labels.class_names == ("Speech", "Male speech, man speaking", "Music")
    assert labels.clip_ids.tolist() == ["vidA_30000", "vidB_500", "vidC_12250"]
    assert labels.positive.tolist() == [[True, False, True], [False, True, False], [False, False, True]]
    assert np.array_equal(labels.annotated, labels.positive)  # positives only
    assert labels.duration_seconds.tolist() == [10.0, 10.0, 10.0]
    assert manifest.precomputed is not None
    assert manifest.precomputed.config.dim == 4
    third = manifest.precomputed.frames(2)
    assert third.shape == (3, 4)
    codes = np.random.default_rng(3)
    expected = np.stack([codes.integers(0, 256, 4, dtype=np.uint8) for _ in range(3)])
    assert np.array_equal(third, dequantize_uint8(expected))
    glob = load_dataset("audioset", {**small, "records": str(Path(small["records"]) / "b*.tfrecord")})
    assert glob.labels.clip_ids.tolist() == ["vidC_12250"]


def test_clip_id_uses_whole_milliseconds():
    assert audioset_clip_id("--PJHxphWEs", 30.0) == "--PJHxphWEs_30000"
    assert audioset_clip_id("x", 0.9605) == "x_960"


def test_label_index_out_of_range_names_record(small):
    write_records(Path(small["records"]) / "c.tfrecord", [record("vidD", 0.0, [0]), record("vidE", 0.0, [3])])
    with pytest.raises(
        LabelError, match=r"c\.tfrecord, record 1: clip 'vidE_0' has class index 3, outside 0\.\.2"
    ):
        load_dataset("audioset", small)


def test_malformed_records(small):
    folder = Path(small["records"])
    context = {"start_time_seconds": Feature("float", np.array([0.0], np.float32))}
    write_records(folder / "c.tfrecord", [encode_sequence_example(context, {})])
    with pytest.raises(
        LabelError, match=r"c\.tfrecord, record 0: context feature 'video_id' must hold one bytes"
    ):
        load_dataset("audioset", small)
    write_records(folder / "c.tfrecord", [record("vidA", 30.0, [1])])
    with pytest.raises(
        LabelError, match=r"c\.tfrecord, record 0: clip 'vidA_30000' is also .*a\.tfrecord, record 0"
    ):
        load_dataset("audioset", small)
    data = bytearray((folder / "a.tfrecord").read_bytes())
    data[40] ^= 0x01
    (folder / "c.tfrecord").unlink()
    (folder / "a.tfrecord").write_bytes(bytes(data))
    with pytest.raises(LabelError, match=r"a\.tfrecord, record 0: CRC of the data does not match"):
        load_dataset("audioset", small)


def test_records_without_frames_are_skipped(small):
    write_records(Path(small["records"]) / "c.tfrecord", [record("vidD", 0.0, [0], num_frames=0)])
    assert load_dataset("audioset", small).labels.num_clips == 3


def test_bad_class_lists_and_missing_records(small, tmp_path):
    classes = Path(small["class_labels"])
    classes.write_text(CLASSES + "3,/m/0xyz,Music\n")
    with pytest.raises(LabelError, match=r"line 5: display_name 'Music' also names line 4"):
        load_dataset("audioset", small)
    classes.write_text("index,mid,display_name\n0,/m/1,A\n2,/m/2,B\n")
    with pytest.raises(LabelError, match=r"indices must be 0\.\.1 with none missing"):
        load_dataset("audioset", small)
    classes.write_text(CLASSES)
    with pytest.raises(LabelError, match=r"no TFRecord files at .*empty"):
        load_dataset("audioset", {**small, "records": str(tmp_path / "empty")})


# ----------------------------------------------------------------- real data
def test_real_shards_match_the_decoded_sample(shared_data):
    folder = shared_data / "audioset_vggish_sample"
    manifest = load_dataset(
        "audioset", {"records": str(folder), "class_labels": str(folder / "class_labels_indices.csv")}
    )
    labels = manifest.labels
    assert labels.num_clips == 975
    assert labels.num_classes == 527
    assert labels.class_names[0] == "Speech"
    assert np.array_equal(labels.annotated, labels.positive)
    with np.load(folder / "audioset_vggish_sample975.npz") as reference:
        ids = [
            audioset_clip_id(v, s)
            for v, s in zip(reference["video_id"], reference["start_time_seconds"], strict=True)
        ]
        row_of = {clip: i for i, clip in enumerate(ids)}
        assert set(row_of) == set(labels.clip_ids)
        order = np.array([row_of[c] for c in labels.clip_ids])
        assert np.array_equal(labels.positive, reference["Y"][order].astype(bool))
        codes, counts = reference["X"][order], reference["n_frames"][order]
    assert manifest.precomputed is not None
    for i in range(labels.num_clips):
        frames = manifest.precomputed.frames(i)
        assert np.array_equal(frames, dequantize_uint8(codes[i, : counts[i]]))
        recovered = np.rint((frames.astype(np.float64) + 2.0) * 255.0 / 4.0).astype(np.uint8)
        assert np.array_equal(recovered, codes[i, : counts[i]])  # the uint8 frames, exactly

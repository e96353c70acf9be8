from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from earmark.data.labels import LabelError
from earmark.data.loaders.tfrecord import (
    Feature,
    RecordError,
    crc32c,
    crc32c_python,
    encode_sequence_example,
    iter_records,
    masked_crc32c,
    parse_sequence_example,
    read_sequence_examples,
    write_records,
)


def example_bytes(video: bytes = b"abc", labels=(3, 7)) -> bytes:
    context = {
        "video_id": Feature("bytes", (video,)),
        "start_time_seconds": Feature("float", np.array([30.0], np.float32)),
        "labels": Feature("int64", np.array(labels, np.int64)),
    }
    frames = [Feature("bytes", (bytes(range(i, i + 4)),)) for i in range(3)]
    return encode_sequence_example(context, {"audio_embedding": frames})


def test_crc32c_known_values():
    # the CRC-32C check value of the standard test string, and of 32 zero bytes (RFC 3720)
    for function in (crc32c, crc32c_python):
        assert function(b"123456789") == 0xE3069283
        assert function(bytes(32)) == 0x8A9136AA
        assert function(b"") == 0
    assert masked_crc32c(b"") == 0xA282EAD8


def test_sequence_example_round_trip():
    parsed = parse_sequence_example(example_bytes(labels=(3, -2, 2**40)))
    assert parsed.context["video_id"] == Feature("bytes", (b"abc",))
    assert parsed.context["start_time_seconds"].kind == "float"
    assert parsed.context["start_time_seconds"].values.tolist() == [30.0]
    assert parsed.context["labels"].values.tolist() == [3, -2, 2**40]
    frames = parsed.feature_lists["audio_embedding"]
    assert [f.values[0] for f in frames] == [bytes(range(i, i + 4)) for i in range(3)]


def test_unpacked_numbers_and_unknown_fields_are_read():
    # FloatList with one unpacked fixed32 value, Int64List with unpacked varints, plus an
    # unknown varint field 9 in the Feature message and an unknown field 5 in the top message
    float_list = b"\x0d" + struct.pack("<f", 1.5)
    int_list = b"\x08\x05\x08\x07"
    float_feature = b"\x12" + bytes([len(float_list)]) + float_list + b"\x48\x01"
    int_feature = b"\x1a" + bytes([len(int_list)]) + int_list

    def entry(key: bytes, value: bytes) -> bytes:
        body = b"\x0a" + bytes([len(key)]) + key + b"\x12" + bytes([len(value)]) + value
        return b"\x0a" + bytes([len(body)]) + body

    features = entry(b"x", float_feature) + entry(b"n", int_feature)
    message = b"\x0a" + bytes([len(features)]) + features + b"\x28\x01"
    parsed = parse_sequence_example(message)
    assert parsed.context["x"].values.tolist() == [1.5]
    assert parsed.context["n"].values.tolist() == [5, 7]
    assert parsed.feature_lists == {}


def test_records_round_trip(tmp_path):
    path = write_records(tmp_path / "a.tfrecord", [example_bytes(b"a"), example_bytes(b"b")])
    assert len(list(iter_records(path))) == 2
    videos = [e.context["video_id"].values[0] for e in read_sequence_examples(path)]
    assert videos == [b"a", b"b"]


def corrupt(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_bad_data_crc_names_file_and_record(tmp_path):
    first, second = example_bytes(b"a"), example_bytes(b"b")
    path = write_records(tmp_path / "bad.tfrecord", [first, second])
    corrupt(path, 12 + len(first) + 4 + 12 + 5)  # a byte inside the second record's data
    with pytest.raises(RecordError, match=r"bad\.tfrecord, record 1: CRC of the data does not match"):
        list(iter_records(path))
    assert len(list(iter_records(path, verify_crc=False))) == 2
    assert issubclass(RecordError, LabelError)


def test_bad_length_crc_and_truncation(tmp_path):
    path = write_records(tmp_path / "bad.tfrecord", [example_bytes()])
    corrupt(path, 9)
    with pytest.raises(RecordError, match=r"record 0: CRC of the length field does not match"):
        list(iter_records(path))
    path = write_records(tmp_path / "short.tfrecord", [example_bytes(), example_bytes()])
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(RecordError, match=r"short\.tfrecord, record 1: truncated record"):
        list(iter_records(path))
    path.write_bytes(path.read_bytes()[:5])
    with pytest.raises(RecordError, match=r"record 0: truncated record header"):
        list(iter_records(path))
    with pytest.raises(RecordError, match=r"TFRecord file not found"):
        list(iter_records(tmp_path / "absent.tfrecord"))


def test_invalid_protobuf_names_the_record(tmp_path):
    path = write_records(tmp_path / "junk.tfrecord", [example_bytes(), b"\x0a\xff\xff\xff"])
    with pytest.raises(RecordError, match=r"junk\.tfrecord, record 1: not a valid SequenceExample"):
        list(read_sequence_examples(path))
    path = write_records(tmp_path / "wire.tfrecord", [b"\x0f"])  # wire type 7 does not exist
    with pytest.raises(RecordError, match=r"record 0: .*unsupported protobuf wire type 7"):
        list(read_sequence_examples(path))


def test_real_shard_first_record(shared_data):
    path = shared_data / "audioset_vggish_sample" / "rm.tfrecord"
    first = next(read_sequence_examples(path))
    assert first.context["video_id"].values == (b"rmLnozgTQMY",)
    assert first.context["start_time_seconds"].values.tolist() == [30.0]
    frames = first.feature_lists["audio_embedding"]
    assert len(frames) == 10
    assert all(len(f.values) == 1 and len(f.values[0]) == 128 for f in frames)

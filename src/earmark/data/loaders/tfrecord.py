"""Reading TFRecord files of ``tf.train.SequenceExample`` without TensorFlow.

Two small pieces, written from the published formats:

- **Record framing.** A TFRecord file is a sequence of records, each ``uint64 length``,
  ``uint32 masked_crc32c(length bytes)``, ``data``, ``uint32 masked_crc32c(data)``, all little
  endian. The mask is ``((crc >> 15) | (crc << 17)) + 0xA282EAD8`` modulo 2**32, and the CRC is
  CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
- **Protocol-buffer wire format**, just for the messages of ``tf.train``: ``SequenceExample``
  {``context``: Features = 1, ``feature_lists``: FeatureLists = 2}; ``Features`` {map<string,
  Feature> ``feature`` = 1}; ``Feature`` {oneof ``bytes_list`` = 1, ``float_list`` = 2,
  ``int64_list`` = 3}; ``BytesList`` / ``FloatList`` / ``Int64List`` {repeated ``value`` = 1,
  numbers packed or not}; ``FeatureLists`` {map<string, FeatureList> ``feature_list`` = 1};
  ``FeatureList`` {repeated Feature ``feature`` = 1}. Unknown fields are skipped, as protobuf
  parsers do.

Every failure is a :class:`RecordError` naming the file and the record number (from 0).
"""

from __future__ import annotations

import dataclasses
import importlib
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from earmark.data.labels import LabelError

__all__ = [
    "Feature",
    "RecordError",
    "SequenceExample",
    "crc32c",
    "crc32c_python",
    "encode_sequence_example",
    "iter_records",
    "masked_crc32c",
    "parse_sequence_example",
    "read_sequence_examples",
    "write_records",
]

_CRC32C_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


class RecordError(LabelError):
    """A TFRecord file or a protocol-buffer message in it is malformed."""


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc32c_python(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data`` in pure Python (about 7 MB/s)."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _compiled_crc32c() -> Callable[[bytes], int] | None:
    """Find a compiled CRC-32C in an optional package, when one is installed."""
    for module_name, attribute in (("google_crc32c", "value"), ("crc32c", "crc32c")):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, attribute, None)
        if callable(function):
            return function  # type: ignore[no-any-return]
    return None


_COMPILED = _compiled_crc32c()


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data``, as an unsigned 32-bit integer.

    Uses ``google_crc32c`` or ``crc32c`` when either is installed, else :func:`crc32c_python`.
    """
    if _COMPILED is not None:
        return int(_COMPILED(bytes(data)))
    return crc32c_python(data)


def masked_crc32c(data: bytes | memoryview) -> int:
    """Compute the masked CRC-32C that TFRecord framing stores."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def iter_records(path: str | Path, *, verify_crc: bool = True) -> Iterator[bytes]:
    """Yield the records of a TFRecord file, checking both CRCs of each unless told not to."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"TFRecord file not found: {path}")
    with open(path, "rb") as handle:
        number = 0
        while True:
            header = handle.read(12)
            if not header:
                return
            if len(header) < 12:
                raise RecordError(
                    f"{path}, record {number}: truncated record header ({len(header)} of 12 bytes)"
                )
            (length,) = struct.unpack("<Q", header[:8])
            (length_crc,) = struct.unpack("<I", header[8:])
            if verify_crc and masked_crc32c(header[:8]) != length_crc:
                raise RecordError(
                    f"{path}, record {number}: CRC of the length field does not match (corrupt file)"
                )
            data = handle.read(length)
            footer = handle.read(4)
            if len(data) < length or len(footer) < 4:
                raise RecordError(
                    f"{path}, record {number}: truncated record ({len(data)} of {length} data bytes)"
                )
            if verify_crc and masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise RecordError(f"{path}, record {number}: CRC of the data does not match (corrupt record)")
            yield data
            number += 1


def write_records(path: str | Path, records: list[bytes]) -> Path:
    """Write ``records`` as a TFRecord file (for tests and small conversions)."""
    path = Path(path)
    with open(path, "wb") as handle:
        for data in records:
            length = struct.pack("<Q", len(data))
            handle.write(length + struct.pack("<I", masked_crc32c(length)))
            handle.write(data + struct.pack("<I", masked_crc32c(data)))
    return path


# ----------------------------------------------------------------- protobuf wire format
def _varint(buffer: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buffer):
            raise RecordError(f"truncated varint at byte {pos}")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise RecordError(f"varint longer than 10 bytes at byte {pos}")


def _fields(buffer: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)``; value is an int, or bytes for wire type 2."""
    pos = 0
    while pos < len(buffer):
        key, pos = _varint(buffer, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buffer, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buffer[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            size, pos = _varint(buffer, pos)
            value, pos = buffer[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(buffer[pos : pos + 4], "little"), pos + 4
        else:
            raise RecordError(f"unsupported protobuf wire type {wire} (field {number})")
        if pos > len(buffer):
            raise RecordError(f"field {number} runs past the end of its message")
        yield number, wire, value


@dataclasses.dataclass(frozen=True)
class Feature:
    """One ``tf.train.Feature``: which list it holds and its values.

    ``values`` is a tuple of bytes (``kind == "bytes"``), a float32 array (``"float"``), an
    int64 array (``"int64"``), or empty (``"none"``: the oneof is not set).
    """

    kind: Literal["bytes", "float", "int64", "none"]
    values: tuple[bytes, ...] | np.ndarray


@dataclasses.dataclass(frozen=True)
class SequenceExample:
    """A ``tf.train.SequenceExample``: context features and named lists of features."""

    context: dict[str, Feature]
    feature_lists: dict[str, list[Feature]]


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_feature(buffer: bytes) -> Feature:
    feature = Feature("none", ())
    for number, _, payload in _fields(buffer):
        if number not in (1, 2, 3) or not isinstance(payload, bytes):
            continue
        if number == 1:
            values = [v for n, w, v in _fields(payload) if n == 1 and isinstance(v, bytes)]
            feature = Feature("bytes", tuple(values))
        elif number == 2:
            feature = Feature("float", _parse_floats(payload))
        else:
            feature = Feature("int64", _parse_ints(payload))
    return feature


def _parse_floats(buffer: bytes) -> np.ndarray:
    parts: list[np.ndarray] = []
    for number, wire, value in _fields(buffer):
        if number != 1:
            continue
        if wire == 2 and isinstance(value, bytes):  # packed
            if len(value) % 4:
                raise RecordError("packed float list whose size is not a multiple of 4")
            parts.append(np.frombuffer(value, dtype="<f4"))
        elif wire == 5 and isinstance(value, int):
            parts.append(np.frombuffer(value.to_bytes(4, "little"), dtype="<f4"))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _parse_ints(buffer: bytes) -> np.ndarray:
    values: list[int] = []
    for number, wire, value in _fields(buffer):
        if number != 1:
            continue
        if wire == 2 and isinstance(value, bytes):  # packed
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos)
                values.append(_signed64(item))
        elif wire == 0 and isinstance(value, int):
            values.append(_signed64(value))
    return np.array(values, dtype=np.int64)


def _parse_map(buffer: bytes) -> Iterator[tuple[str, bytes]]:
    """Entries of a ``map<string, message>`` field: (key, value message bytes)."""
    for number, _, entry in _fields(buffer):
        if number != 1 or not isinstance(entry, bytes):
            continue
        key, value = "", b""
        for n, _, v in _fields(entry):
            if n == 1 and isinstance(v, bytes):
                key = v.decode("utf-8")
            elif n == 2 and isinstance(v, bytes):
                value = v
        yield key, value


def parse_sequence_example(buffer: bytes) -> SequenceExample:
    """Decode one serialized ``tf.train.SequenceExample``."""
    context: dict[str, Feature] = {}
    feature_lists: dict[str, list[Feature]] = {}
    try:
        for number, _, payload in _fields(buffer):
            if not isinstance(payload, bytes):
                continue
            if number == 1:
                context.update((key, _parse_feature(value)) for key, value in _parse_map(payload))
            elif number == 2:
                for key, value in _parse_map(payload):
                    feature_lists[key] = [
                        _parse_feature(f) for n, _, f in _fields(value) if n == 1 and isinstance(f, bytes)
                    ]
    except UnicodeDecodeError as error:
        raise RecordError(f"a feature name is not UTF-8 ({error})") from error
    return SequenceExample(context, feature_lists)


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as in protobuf
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _encode_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _encode_feature(feature: Feature) -> bytes:
    if feature.kind == "bytes":
        inner = b"".join(_encode_field(1, bytes(v)) for v in feature.values)
        return _encode_field(1, inner)
    if feature.kind == "float":
        packed = np.asarray(feature.values, dtype="<f4").tobytes()
        return _encode_field(2, _encode_field(1, packed))
    if feature.kind == "int64":
        packed = b"".join(_encode_varint(int(v)) for v in np.asarray(feature.values, dtype=np.int64))
        return _encode_field(3, _encode_field(1, packed))
    return b""


def _encode_entry(key: str, value: bytes) -> bytes:
    return _encode_field(1, _encode_field(1, key.encode("utf-8")) + _encode_field(2, value))


def encode_sequence_example(
    context: Mapping[str, Feature], feature_lists: Mapping[str, Sequence[Feature]]
) -> bytes:
    """Serialize a ``tf.train.SequenceExample`` (packed numbers), the inverse of the parser."""
    features = b"".join(_encode_entry(k, _encode_feature(f)) for k, f in context.items())
    lists = b"".join(
        _encode_entry(k, b"".join(_encode_field(1, _encode_feature(f)) for f in fs))
        for k, fs in feature_lists.items()
    )
    return _encode_field(1, features) + _encode_field(2, lists)


def read_sequence_examples(path: str | Path, *, verify_crc: bool = True) -> Iterator[SequenceExample]:
    """Every SequenceExample of a TFRecord file; a bad record raises naming file and record."""
    for number, record in enumerate(iter_records(path, verify_crc=verify_crc)):
        try:
            yield parse_sequence_example(record)
        except RecordError as error:
            raise RecordError(f"{path}, record {number}: not a valid SequenceExample ({error})") from error

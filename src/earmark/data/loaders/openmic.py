"""OpenMIC-2018: VGGish frames, partial instrument labels and the official split, from one npz.

``openmic-2018.npz`` holds ``X`` (N, 10, 128) uint8 VGGish embeddings (one frame per 0.96 s),
``Y_true`` (N, 20) label confidences in [0, 1], ``Y_mask`` (N, 20) bool (True where the instrument
was annotated) and ``sample_key`` (N,) str. ``class-map.json`` maps instrument name to column.
The split files (``split01_train.csv``, ``split01_test.csv``) list one sample key per line.

An entry is annotated where ``Y_mask`` is True, and positive where it is annotated and
``Y_true >= threshold``; every other entry is missing (OpenMIC labels only some instruments per
clip). Clip ids are the sample keys; each clip goes to split ``train`` or ``test``. A key of the
npz found in neither split file is dropped (the count is logged at INFO level on the
``earmark.data.loaders`` logger), as are split-file keys with no row in the npz. A key listed in
both split files raises.

The frames are precomputed: the manifest's ``precomputed.frames(i)`` gives clip ``i``'s
``(10, 128)`` float32 frames, dequantised from uint8 onto [-2, 2]; audio paths are empty.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Annotated

import numpy as np

from earmark.config import Range, check_ranges
from earmark.data.labels import LabelError, Labels
from earmark.data.loaders._common import logger, require_file
from earmark.data.loaders.base import register_loader
from earmark.data.manifest import Manifest, PrecomputedFrames
from earmark.features.embeddings import PrecomputedConfig, dequantize_uint8

__all__ = ["OPENMIC_ARRAYS", "OpenMicOptions", "load_openmic"]

OPENMIC_ARRAYS = ("X", "Y_true", "Y_mask", "sample_key")
VGGISH_FRAME_SECONDS = 0.96
VGGISH_SAMPLE_RATE = 16000


@dataclasses.dataclass(frozen=True)
class OpenMicOptions:
    """Options of the OpenMIC-2018 loader.

    Attributes
    ----------
    npz : ``openmic-2018.npz``.
    class_map : ``class-map.json`` (instrument name -> column of ``Y_true``).
    train_split, test_split : the split files, one sample key per line.
    threshold : an annotated entry is positive when ``Y_true >= threshold``; in (0, 1].

    """

    npz: str
    class_map: str
    train_split: str
    test_split: str
    threshold: Annotated[float, Range(gt=0, le=1)] = 0.5

    def __post_init__(self) -> None:
        check_ranges(self, key="openmic")


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    path = require_file(path, "OpenMIC npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise LabelError(f"{path}: cannot be read as an npz archive ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise LabelError(f"{path}: holds a single array, not an npz archive of {', '.join(OPENMIC_ARRAYS)}")
    with archive:
        absent = [key for key in OPENMIC_ARRAYS if key not in archive.files]
        if absent:
            raise LabelError(
                f"{path}: array {absent[0]!r} is missing; an OpenMIC npz holds "
                f"{', '.join(OPENMIC_ARRAYS)} (found {', '.join(archive.files) or 'nothing'})"
            )
        arrays: dict[str, np.ndarray] = {}
        for key in OPENMIC_ARRAYS:
            try:
                arrays[key] = archive[key]
            except ValueError as error:  # object arrays need pickle, which is refused
                raise LabelError(f"{path}: array {key!r} cannot be read without pickle ({error})") from error
        return arrays


def _check_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    frames, y_true, y_mask, keys = (arrays[k] for k in OPENMIC_ARRAYS)
    n = len(keys)
    if keys.ndim != 1:
        raise LabelError(f"{path}: sample_key has shape {keys.shape}, expected (N,)")
    if frames.ndim != 3 or frames.shape[0] != n:
        raise LabelError(f"{path}: X has shape {frames.shape}, expected ({n}, frames, dim)")
    if frames.dtype != np.uint8 and not np.issubdtype(frames.dtype, np.floating):
        raise LabelError(f"{path}: X has dtype {frames.dtype}, expected uint8 (quantised VGGish)")
    if y_true.ndim != 2 or y_true.shape[0] != n:
        raise LabelError(f"{path}: Y_true has shape {y_true.shape}, expected ({n}, classes)")
    if y_mask.shape != y_true.shape:
        raise LabelError(f"{path}: Y_mask has shape {y_mask.shape} but Y_true has {y_true.shape}")
    values = np.asarray(y_true, dtype=np.float64)
    if not np.isfinite(values).all() or values.min(initial=0.0) < 0 or values.max(initial=0.0) > 1:
        raise LabelError(f"{path}: Y_true must hold finite values in [0, 1]")


def _read_class_map(path: Path, num_columns: int) -> list[str]:
    path = require_file(path, "OpenMIC class map")
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise LabelError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
        raise LabelError(f"{path}: expected a JSON object of instrument name -> column index")
    if len(mapping) != num_columns:
        raise LabelError(
            f"{path}: class map names {len(mapping)} classes but Y_true has {num_columns} columns; "
            "use the class map that came with the npz"
        )
    if sorted(mapping.values()) != list(range(num_columns)):
        raise LabelError(f"{path}: column indices must be 0..{num_columns - 1}, each used once")
    return [name for name, _ in sorted(mapping.items(), key=lambda item: item[1])]


def _read_keys(path: Path, what: str) -> list[str]:
    path = require_file(path, what)
    keys = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    return [key for key in keys if key]


def _splits_of(keys: np.ndarray, options: OpenMicOptions) -> np.ndarray:
    """Split name per npz row (``""`` for rows in neither split file)."""
    split_of: dict[str, str] = {}
    for split, file in (("train", options.train_split), ("test", options.test_split)):
        for key in _read_keys(Path(file).expanduser(), f"OpenMIC {split} split"):
            if split_of.get(key, split) != split:
                raise LabelError(
                    f"sample key {key!r} is in both {options.train_split} and {options.test_split}"
                )
            split_of[key] = split
    splits = np.array([split_of.get(str(key), "") for key in keys], dtype=object)
    unused = len(split_of) - int(np.count_nonzero(splits != ""))
    if unused:
        logger.info("openmic: %d split-file keys have no row in the npz", unused)
    return splits


@register_loader("openmic", OpenMicOptions)
def load_openmic(options: OpenMicOptions) -> Manifest:
    """OpenMIC-2018 npz + class map + split files; partial labels, precomputed VGGish frames."""
    npz = Path(options.npz).expanduser()
    arrays = _load_arrays(npz)
    _check_arrays(arrays, npz)
    frames, y_true, y_mask, keys = (arrays[k] for k in OPENMIC_ARRAYS)
    class_names = _read_class_map(Path(options.class_map).expanduser(), y_true.shape[1])
    splits = _splits_of(keys, options)
    rows = np.flatnonzero(splits != "")
    if len(rows) < len(keys):
        logger.info(
            "openmic: %d of %d npz rows are in neither split file and were dropped",
            len(keys) - len(rows),
            len(keys),
        )
    if len(rows) == 0:
        raise LabelError(f"{npz}: no sample key is listed in {options.train_split} or {options.test_split}")
    annotated = np.asarray(y_mask[rows]).astype(bool)
    labels = Labels(
        clip_ids=np.array([str(k) for k in keys[rows]], dtype=object),
        class_names=tuple(class_names),
        positive=annotated & (np.asarray(y_true[rows], dtype=np.float64) >= options.threshold),
        annotated=annotated,
        source=np.array(["curated"] * len(rows), dtype=object),
        # the official split as folds, so a training config can select it: 1 = train, 2 = test
        fold=np.where(splits[rows] == "train", 1, 2).astype(np.int64),
        duration_seconds=np.full(len(rows), np.nan),
    )
    kept = frames[rows]
    if kept.dtype == np.uint8:

        def frames_of(i: int) -> np.ndarray:
            return dequantize_uint8(kept[i])

    else:

        def frames_of(i: int) -> np.ndarray:
            return np.asarray(kept[i], dtype=np.float32)

    config = PrecomputedConfig(
        source="vggish",
        dim=int(frames.shape[2]),
        frame_seconds=VGGISH_FRAME_SECONDS,
        sample_rate=VGGISH_SAMPLE_RATE,
    )
    return Manifest(
        labels=labels,
        audio_paths=np.array([""] * len(rows), dtype=object),
        splits=splits[rows],
        precomputed=PrecomputedFrames(config, frames_of),
        name="openmic",
    )

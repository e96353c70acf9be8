"""Data-set loaders, one module per layout; importing this package registers them all."""

from earmark.data.loaders import (
    audioset,
    crowd,
    esc50,
    files,
    folder,
    fsdkaggle2019,
    generic_csv,
    openmic,
    sonyc_ust,
)
from earmark.data.loaders.base import LOADERS, load_dataset, register_loader

__all__ = [
    "LOADERS",
    "audioset",
    "crowd",
    "esc50",
    "files",
    "folder",
    "fsdkaggle2019",
    "generic_csv",
    "load_dataset",
    "openmic",
    "register_loader",
    "sonyc_ust",
]

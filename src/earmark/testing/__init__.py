"""Synthetic fixtures for tests: tone files, broken files, and the real-data location."""

from earmark.testing.audio import loudest_excerpt, write_broken_files, write_tone
from earmark.testing.optional import aisfx_missing
from earmark.testing.paths import data_root, require_data

__all__ = [
    "aisfx_missing",
    "data_root",
    "loudest_excerpt",
    "require_data",
    "write_broken_files",
    "write_tone",
]

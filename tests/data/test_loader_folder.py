"""The folder-per-class loader reports what it leaves out."""

from __future__ import annotations

import logging
import os

from earmark.data.loaders import load_dataset
from earmark.testing import write_tone


def test_a_class_folder_without_audio_and_non_regular_files_are_reported(tmp_path, caplog):
    write_tone(tmp_path / "dog" / "1-a.wav", duration_seconds=0.1)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "1-b.mp4").write_bytes(b"not audio earmark reads")
    (tmp_path / "dog" / "1-gone.wav").symlink_to(tmp_path / "missing.wav")
    os.mkfifo(tmp_path / "dog" / "1-pipe.wav")
    with caplog.at_level(logging.WARNING, logger="earmark.data.loaders.folder"):
        manifest = load_dataset("folder", {"root": str(tmp_path), "fold_pattern": r"^(\d+)-"})
    assert manifest.labels.clip_ids.tolist() == ["1-a"]
    assert "holds no audio file" in caplog.text
    assert "class 'cat' has no clip" in caplog.text
    assert "1-gone.wav is not a regular file; left out" in caplog.text
    assert "1-pipe.wav is not a regular file; left out" in caplog.text

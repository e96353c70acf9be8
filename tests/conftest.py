from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmark.testing import data_root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; tests that use it skip with the reason when it is absent."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root}; set EARMARK_DATA to the shared data folder")
    return root


@pytest.fixture(scope="session")
def esc10_prepared(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ESC-10 from the real data, prepared once per test session with the default log-mel."""
    from earmark.data.loaders import load_dataset
    from earmark.features.logmel import LogMelConfig
    from earmark.prepare import prepare

    root = shared_data / "esc10" / "audio"
    if not root.is_dir():
        pytest.skip(f"ESC-10 audio not found at {root}")
    out = tmp_path_factory.mktemp("esc10_prepared")
    manifest = load_dataset("folder", {"root": str(root), "fold_pattern": r"^(\d+)-"})
    prepare(manifest, out, LogMelConfig())
    return out

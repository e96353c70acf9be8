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

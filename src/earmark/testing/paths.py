"""Where the real data is: ``$EARMARK_DATA``, else ``../shared/data`` from the working directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root", "require_data"]


def data_root() -> Path:
    """The real-data folder (it may not exist)."""
    configured = os.environ.get("EARMARK_DATA")
    if configured:
        return Path(configured).expanduser()
    here = Path.cwd()
    for base in (here, *here.parents):
        candidate = base.parent / "shared" / "data"
        if (base / "pyproject.toml").is_file() and candidate.is_dir():
            return candidate
    return here.parent / "shared" / "data"


def require_data(relative: str) -> Path:
    """``data_root() / relative``, or skip the calling test with the reason when it is absent."""
    path = data_root() / relative
    if not path.exists():
        import pytest

        pytest.skip(f"real data not found at {path}; set EARMARK_DATA to the shared data folder")
    return path

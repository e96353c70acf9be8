"""The notebook-style example in docs/ runs as written and tags a real ESC-10 clip through the API."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from earmark.testing import require_data

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example_api.py"


def test_the_api_example_tags_a_real_esc10_clip(tmp_path):
    data = require_data("esc10/audio")
    env = {**os.environ, "EARMARK_DATA": str(data.parents[1])}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True, env=env, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    # the run learned something: fold-5 accuracy above chance for its three classes
    test = ast.literal_eval(next(line for line in lines if line.startswith("test: ")).removeprefix("test: "))
    assert test["accuracy"] > 0.5, test
    # the fold-5 Rooster clip the example tags through earmark.load_run comes out as a rooster
    tagged = next(line for line in lines if line.startswith("5-") and ".flac:" in line)
    ranked = ast.literal_eval(tagged.split(": ", 1)[1].split("; present:")[0])
    assert ranked[0][0] == "Rooster", tagged
    assert "same scores from the array: True" in lines
    assert any(line.startswith("test lwlrap") for line in lines)
    assert (tmp_path / "run" / "checkpoints").is_dir()

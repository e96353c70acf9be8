"""A run's HTML report shows the other models it reports (the Mean Teacher student)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from earmark.cli import app
from earmark.testing.prepared import make_prepared

TINY = ["model=cnn", "model_options={channels: [4, 8]}", "segment_frames=16", "batch_size=8", "epochs=1"]


def test_mean_teacher_student_metrics_are_in_the_html_report(tmp_path):
    prepared = make_prepared(tmp_path / "prepared", num_clips=24)
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--run-dir",
            str(run),
            "--quiet",
            f"data.prepared={prepared}",
            "data.test_folds=[3]",
            "strategy=mean_teacher",
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    reported = json.loads((run / "summary.json").read_text())["reported"]
    assert "student" in reported
    page = (run / "report" / "report.html").read_text()
    assert "Other models of this run" in page
    assert "<td>student</td>" in page
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    assert metrics["other_models"]["student"] == reported["student"]["test"]
    assert "rows normalised" not in page

"""Which run a run directory holds: a fingerprint of its resolved config and its labels.

A run directory records ``fingerprint.json`` when training starts. Training into a directory
that already holds a run is refused unless the caller resumes it (the fingerprints must match)
or overwrites it (its checkpoints, predictions, log and summary are removed first), so a rerun
never evaluates, reports or resumes an earlier run's model. Cross-validation and out-of-fold
scoring reuse a finished fold only when its fingerprint matches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

from earmark.config import dump_yaml
from earmark.errors import EarmarkError
from earmark.io import write_text_atomic
from earmark.training.config import TrainConfig
from earmark.training.resolve import resolve

__all__ = ["RunDirectoryError", "claim_run_dir", "holds_a_run", "read_fingerprint", "run_fingerprint"]

FILE = "fingerprint.json"
#: What a run writes; an overwrite removes these (and nothing else) before training again.
RUN_OUTPUTS = (
    "checkpoints",
    "predictions",
    "report",
    "tensorboard",
    "metrics.jsonl",
    "summary.json",
    "curves.png",
    "MODEL_CARD.md",
    "thresholds.json",  # tuned for the model being replaced
)
#: Settings that change how a run is executed or reported, not what it learns.
NOT_FINGERPRINTED = ("device", "num_workers", "report", "tensorboard", "checkpoint_every")


class RunDirectoryError(EarmarkError):
    """A run directory holds another run (or a run of other settings) than the one asked for."""


def run_fingerprint(config: TrainConfig) -> str:
    """SHA-256 of the resolved config (less :data:`NOT_FINGERPRINTED`) and the label table's bytes."""
    settings = dataclasses.replace(
        resolve(config), **{name: getattr(TrainConfig(), name) for name in NOT_FINGERPRINTED}
    )
    labels = config.data.label_table
    digest = hashlib.sha256(dump_yaml(settings).encode("utf-8"))
    digest.update(hashlib.sha256(labels.read_bytes()).digest() if labels.is_file() else b"no labels")
    return digest.hexdigest()


def read_fingerprint(run_dir: Path) -> str | None:
    """The fingerprint ``run_dir`` recorded, or None (no run, or one from before fingerprints)."""
    path = run_dir / FILE
    if not path.is_file():
        return None
    return str(json.loads(path.read_text(encoding="utf-8"))["fingerprint"])


def holds_a_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds what a training run writes (checkpoints, log or summary)."""
    return any((run_dir / name).exists() for name in ("checkpoints", "metrics.jsonl", "summary.json"))


def claim_run_dir(run_dir: Path, fingerprint: str, *, resume: bool, overwrite: bool) -> None:
    """Make ``run_dir`` this run's, or refuse with :class:`RunDirectoryError` saying what to do.

    * empty (or new): recorded as this run's;
    * ``resume``: the recorded fingerprint must be this one (a directory from before
      fingerprints is resumed as it is);
    * ``overwrite``: the earlier run's outputs are removed, then recorded as this run's;
    * otherwise a directory holding a run is refused.
    """
    if resume and overwrite:
        raise RunDirectoryError("give --resume or --overwrite, not both")
    recorded = read_fingerprint(run_dir)
    if holds_a_run(run_dir):
        if resume:
            if recorded is not None and recorded != fingerprint:
                raise RunDirectoryError(
                    f"{run_dir} holds a run of other settings or labels than these; it cannot be "
                    "resumed with them (train into another --run-dir, or --overwrite it)"
                )
        elif overwrite:
            for name in RUN_OUTPUTS:
                target = run_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        else:
            state = "a finished run" if (run_dir / "summary.json").exists() else "an unfinished run"
            raise RunDirectoryError(
                f"{run_dir} already holds {state}; --resume continues it (same settings), "
                "--overwrite starts it again, or give another --run-dir"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / FILE, json.dumps({"fingerprint": fingerprint}, indent=2))

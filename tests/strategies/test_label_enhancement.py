from __future__ import annotations

import numpy as np
import pytest

from earmark.audit import read_audit
from earmark.config import ConfigError, from_dict
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.features.logmel import LogMelConfig
from earmark.spec import SpecMismatchError, TaggingSpec
from earmark.strategies import build_strategy
from earmark.strategies.components import enhancement_counts, flag_missing_entries
from earmark.strategies.label_enhancement import enhance_labels
from earmark.testing.prepared import make_prepared
from earmark.training.config import TrainConfig
from earmark.training.trainer import Trainer

SPEC = TaggingSpec(("a", "b"), LogMelConfig(n_mels=16), segment_frames=16)


def test_hand_made_example():
    # class a: 4 missing entries (rows 0, 1, 3, 5); class b: 2 missing entries (rows 2, 4)
    scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.7], [0.6, 0.9], [0.1, 0.4], [0.7, 0.2]])
    missing = np.array([[1, 0], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0]], dtype=bool)
    # share 0.5: a masks round(2.0) = 2 entries (rows 0, 5), b masks round(1.0) = 1 (row 2)
    flagged = flag_missing_entries(scores, missing, share=0.5)
    assert np.argwhere(flagged).tolist() == [[0, 0], [2, 1], [5, 0]]
    # share 0.2: a 4 * 0.2 = 0.8 -> 1 entry (row 0); b 2 * 0.2 = 0.4 -> 0 entries
    flagged = flag_missing_entries(scores, missing, share=0.2)
    assert np.argwhere(flagged).tolist() == [[0, 0]]
    assert enhancement_counts(missing, 0.2).tolist() == [1, 0]


def test_a_share_rounding_to_zero_masks_nothing():
    """The released code's ``sorted[-0:]`` masked every implicit negative in this case."""
    rng = np.random.default_rng(0)
    missing = rng.random((50, 3)) > 0.2
    flagged = flag_missing_entries(rng.random((50, 3)), missing, share=0.001)
    assert not flagged.any()
    assert not flag_missing_entries(rng.random((50, 3)), missing, share=0.0).any()
    assert (flag_missing_entries(rng.random((50, 3)), missing, share=1.0) == missing).all()


def test_ties_are_broken_by_clip_order_so_counts_are_exact():
    scores = np.full((6, 1), 0.5)
    flagged = flag_missing_entries(scores, np.ones((6, 1), dtype=bool), share=0.5)
    assert flagged[:, 0].tolist() == [True, True, True, False, False, False]


def test_flags_are_only_missing_entries_and_bad_inputs_raise():
    scores = np.array([[0.9, 0.1], [0.2, 0.3]])
    missing = np.array([[False, True], [True, True]])
    assert not (flag_missing_entries(scores, missing, share=1.0) & ~missing).any()
    with pytest.raises(ValueError, match="one \\(clips, classes\\) shape"):
        flag_missing_entries(scores, missing[:1], share=0.5)
    with pytest.raises(ValueError, match="NaN"):
        flag_missing_entries(np.array([[0.9, np.nan], [0.2, 0.3]]), missing, share=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        flag_missing_entries(scores, missing, share=1.5)


def test_enhanced_labels_turn_unflagged_missing_entries_into_negatives():
    labels = Labels(
        clip_ids=np.array(["x", "y", "z", "w"], dtype=object),
        class_names=("a", "b"),
        positive=np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=bool),
        annotated=np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=bool),  # positives only
        source=np.array(["curated"] * 4, dtype=object),
        fold=np.ones(4, dtype=np.int64),
        duration_seconds=np.ones(4),
    )
    scores = np.array([[0.9, 0.8], [0.7, 0.1], [0.2, 0.9], [0.1, 0.5]])
    enhanced, flagged = enhance_labels(labels, scores, share=1 / 3)
    # a: missing y, z, w -> 1 flagged (y, 0.7); b: missing x, y, w -> 1 flagged (x, 0.8)
    assert np.argwhere(flagged).tolist() == [[0, 1], [1, 0]]
    assert (enhanced.positive == labels.positive).all()
    assert enhanced.annotated.tolist() == [[True, False], [False, True], [True, True], [True, True]]


def test_options_are_checked():
    with pytest.raises(ConfigError, match="teacher_run"):
        build_strategy("label_enhancement", SPEC, {"gamma": 10})
    with pytest.raises(ConfigError, match="exactly one"):
        build_strategy("label_enhancement", SPEC, {"teacher_run": "r", "gamma": 10, "percent": 1})
    with pytest.raises(ConfigError, match=r"\[0, 100\]"):
        build_strategy("label_enhancement", SPEC, {"teacher_run": "r", "percent": 120})
    with pytest.raises(ConfigError, match="exactly one"):
        build_strategy("le_mean_teacher", SPEC, {"teacher_run": "r"})


def _config(prepared, labels, strategy="supervised", options=None, **extra):
    return from_dict(
        TrainConfig,
        {
            "data": {
                "prepared": str(prepared),
                "labels": str(labels),
                "train_folds": [1, 2],
                "valid_folds": [3],
            },
            "model": "cnn",
            "model_options": {"channels": [8, 16], "width_multiplier": 1.0},
            "strategy": strategy,
            "strategy_options": options or {},
            "segment_frames": 16,
            "batch_size": 8,
            "epochs": 2,
            "optim": {"lr": 3e-3, "warmup_steps": 1},
            **extra,
        },
    )


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A B0 teacher on positives-only labels (a third of the positives dropped)."""
    root = tmp_path_factory.mktemp("le")
    prepared = make_prepared(root / "prepared", num_clips=48)
    full = read_labels(prepared / "labels.csv")
    rng = np.random.default_rng(1)
    positive = full.positive & (rng.random(full.positive.shape) > 0.33)
    labels = full.with_matrices(positive=positive, annotated=positive)
    write_labels(labels, root / "positives_only.csv")
    run = root / "teacher"
    Trainer(_config(prepared, root / "positives_only.csv", options={"missing": "negative"}), run).fit()
    return prepared, root / "positives_only.csv", run


@pytest.mark.parametrize(
    ("strategy", "options"),
    [("label_enhancement", {"percent": 25.0}), ("le_mean_teacher", {"gamma": 75.0, "alpha": 0.9})],
)
def test_a_student_trains_on_the_enhanced_table_it_writes(teacher_run, tmp_path, strategy, options):
    prepared, labels_path, run = teacher_run
    trainer = Trainer(
        _config(prepared, labels_path, strategy, {"teacher_run": str(run), **options}), tmp_path / "student"
    )
    train = read_labels(labels_path).select(folds=[1, 2])
    written = read_labels(tmp_path / "student" / "enhanced_labels.csv")
    # what the Trainer trains on is the written table, and it equals enhance_labels on the teacher's scores
    assert written.equals(trainer.splits["train"])
    from earmark.runs import load_run

    teacher = load_run(run)
    scores = trainer._score(teacher.model, train, teacher.segmenting)
    expected, flagged = enhance_labels(train, scores, share=0.25)
    assert written.equals(expected)
    assert len(read_audit(tmp_path / "student" / "enhancement.csv")) == int(flagged.sum()) > 0
    summary = trainer.fit()
    assert np.isfinite(summary["valid"]["lwlrap"])


def test_a_teacher_of_another_vocabulary_is_refused(teacher_run, tmp_path):
    prepared, labels_path, run = teacher_run
    other = read_labels(labels_path)
    renamed = Labels(
        clip_ids=other.clip_ids,
        class_names=tuple(f"other{k}" for k in range(other.num_classes)),
        positive=other.positive,
        annotated=other.annotated,
        source=other.source,
        fold=other.fold,
        duration_seconds=other.duration_seconds,
    )
    write_labels(renamed, tmp_path / "renamed.csv")
    with pytest.raises(SpecMismatchError, match="teacher run"):
        Trainer(
            _config(
                prepared,
                tmp_path / "renamed.csv",
                "label_enhancement",
                {"teacher_run": str(run), "gamma": 90},
            ),
            tmp_path / "student",
        )

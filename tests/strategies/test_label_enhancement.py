from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.audit import read_audit
from earmark.config import ConfigError, from_dict
from earmark.data.labels import Labels
from earmark.data.table import read_labels, write_labels
from earmark.features.logmel import LogMelConfig
from earmark.inference import Segmenting
from earmark.runs import load_run
from earmark.spec import SpecMismatchError, TaggingSpec
from earmark.strategies import STRATEGIES, TrainingContext, build_strategy
from earmark.strategies.components import enhancement_counts, flag_missing_entries
from earmark.strategies.enhancer import EnhanceConfig, LabelEnhancer, enhance_labels
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
    with pytest.raises(ConfigError, match=r"le_mean_teacher\.alpha must be in \[0, 1\], got 2\.0"):
        build_strategy("le_mean_teacher", SPEC, {"teacher_run": "r", "gamma": 10, "alpha": 2.0})
    with pytest.raises(ConfigError, match=r"unknown config key strategy\.le_mean_teacher\.missing"):
        build_strategy("le_mean_teacher", SPEC, {"teacher_run": "r", "gamma": 10, "missing": "mask"})


@pytest.mark.parametrize("name", ["supervised", "mean_teacher", "consistency"])
def test_any_strategy_takes_enhance_and_it_needs_masked_missing_entries(name):
    enhance = {"teacher_run": "r", "gamma": 10}
    strategy = build_strategy(name, SPEC, {"enhance": enhance})
    assert isinstance(strategy.enhancer, LabelEnhancer)
    assert strategy.enhancer.config == EnhanceConfig("r", gamma=10.0)
    assert build_strategy(name, SPEC, {}).enhancer is None
    with pytest.raises(
        ConfigError, match=rf"strategy\.{name}\.enhance needs strategy\.{name}\.missing: mask"
    ):
        build_strategy(name, SPEC, {"missing": "negative", "enhance": enhance})
    with pytest.raises(ConfigError, match="exactly one of gamma and percent"):
        build_strategy(name, SPEC, {"enhance": {"teacher_run": "r"}})
    with pytest.raises(ConfigError, match=rf"unknown config key strategy\.{name}\.enhance\.gama"):
        build_strategy(name, SPEC, {"enhance": {"teacher_run": "r", "gama": 10}})


def test_the_registered_names_are_compositions_with_the_same_options():
    enhance = {"teacher_run": "r", "percent": 1.0, "checkpoint": "last"}
    composed = build_strategy("supervised", SPEC, {"missing": "mask", "enhance": enhance})
    assert build_strategy("label_enhancement", SPEC, enhance).config == composed.config
    options = {
        "teacher_run": "r",
        "gamma": 95.0,
        "alpha": 0.99,
        "rampup_steps": 10,
        "teacher_view": "specaugment",
    }
    mt = build_strategy("le_mean_teacher", SPEC, options)
    enhance = {k: options[k] for k in ("teacher_run", "gamma")}
    teacher = {k: v for k, v in options.items() if k not in enhance}
    expected = build_strategy("mean_teacher", SPEC, {"missing": "mask", "enhance": enhance, **teacher})
    assert mt.config == expected.config
    # the options recipes use are the ones they always were
    keys = {f.name for f in dataclasses.fields(STRATEGIES["le_mean_teacher"].config_class)}
    assert keys == {
        "teacher_run", "gamma", "percent", "checkpoint", "alpha", "consistency_weight", "rampup_steps",
        "ema_warmup", "teacher_dropout", "teacher_view", "evaluate",
    }  # fmt: skip
    keys = {f.name for f in dataclasses.fields(STRATEGIES["label_enhancement"].config_class)}
    assert keys == {"teacher_run", "gamma", "percent", "checkpoint"}


class _Teacher:
    """A stand-in for a loaded run: what :class:`TeacherRun` asks for."""

    def __init__(self, spec: TaggingSpec, directory: Path) -> None:
        self.directory = directory
        self.checkpoint = directory / "checkpoints" / "best.pt"
        self.spec = spec
        self.model = torch.nn.Identity()
        self.segmenting = Segmenting(segment_frames=7, hop_frames=3)


def _labels() -> Labels:
    return Labels(
        clip_ids=np.array(["x", "y", "z", "w"], dtype=object),
        class_names=("a", "b"),
        positive=np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=bool),
        annotated=np.array([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=bool),
        source=np.array(["curated"] * 4, dtype=object),
        fold=np.ones(4, dtype=np.int64),
        duration_seconds=np.ones(4),
    )


@pytest.mark.parametrize("is_main", [True, False])
def test_the_enhancer_scores_through_the_context_with_the_teachers_segmenting(tmp_path, is_main):
    loaded: list[tuple[str | Path, str]] = []
    scored: list[Segmenting] = []
    teacher = _Teacher(dataclasses.replace(SPEC, segment_frames=7), tmp_path / "teacher")

    def load_run(directory: str | Path, *, checkpoint: str = "best") -> _Teacher:
        loaded.append((directory, checkpoint))
        return teacher

    def score(model: torch.nn.Module, labels: Labels, segmenting: Segmenting) -> np.ndarray:
        assert model is teacher.model
        scored.append(segmenting)
        return np.array([[0.9, 0.8], [0.7, 0.1], [0.2, 0.9], [0.1, 0.5]])

    context = TrainingContext(tmp_path, SPEC, is_main, score, load_run=load_run)
    strategy = build_strategy("supervised", SPEC, {"enhance": {"teacher_run": "runs/t", "percent": 100 / 3}})
    enhanced = strategy.prepare_labels(_labels(), context)
    assert loaded == [("runs/t", "best")]
    assert scored == [teacher.segmenting]  # the teacher's own cut, not the student's
    assert enhanced.annotated.tolist() == [[True, False], [False, True], [True, True], [True, True]]
    assert (tmp_path / "enhanced_labels.csv").exists() == is_main
    assert (tmp_path / "enhancement.csv").exists() == is_main
    if is_main:
        summary = json.loads((tmp_path / "enhancement.json").read_text())
        assert summary["masked_entries"] == 2
        assert summary["teacher_run"] == str(teacher.directory)
    teacher.spec = TaggingSpec(("a", "c"), SPEC.frontend, segment_frames=7)
    with pytest.raises(SpecMismatchError, match="teacher run runs/t"):
        strategy.prepare_labels(_labels(), context)


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
    [
        ("label_enhancement", lambda run: {"teacher_run": run, "percent": 25.0}),
        ("le_mean_teacher", lambda run: {"teacher_run": run, "gamma": 75.0, "alpha": 0.9}),
        ("mean_teacher", lambda run: {"alpha": 0.9, "enhance": {"teacher_run": run, "gamma": 75.0}}),
        ("consistency", lambda run: {"weight": 1.0, "enhance": {"teacher_run": run, "percent": 25.0}}),
    ],
)
def test_a_student_trains_on_the_enhanced_table_it_writes(teacher_run, tmp_path, strategy, options):
    prepared, labels_path, run = teacher_run
    trainer = Trainer(_config(prepared, labels_path, strategy, options(str(run))), tmp_path / "student")
    train = read_labels(labels_path).select(folds=[1, 2])
    written = read_labels(tmp_path / "student" / "enhanced_labels.csv")
    # what the Trainer trains on is the written table, and it equals enhance_labels on the teacher's scores
    assert written.equals(trainer.splits["train"])
    teacher = load_run(run)
    scores = trainer.evaluator.score(teacher.model, train, teacher.segmenting)
    expected, flagged = enhance_labels(train, scores, share=0.25)
    assert written.equals(expected)
    assert len(read_audit(tmp_path / "student" / "enhancement.csv")) == int(flagged.sum()) > 0
    summary = trainer.fit()
    assert np.isfinite(summary["valid"]["lwlrap"])


def test_label_enhancement_trains_as_supervised_with_enhance(teacher_run, tmp_path):
    prepared, labels_path, run = teacher_run
    enhance = {"teacher_run": str(run), "gamma": 80.0}
    named = Trainer(_config(prepared, labels_path, "label_enhancement", enhance), tmp_path / "le")
    named_summary = named.fit()  # fitted before the next Trainer seeds the global generator again
    options = {"missing": "mask", "enhance": enhance}
    composed = Trainer(_config(prepared, labels_path, "supervised", options), tmp_path / "sup")
    assert composed.fit()["valid"] == named_summary["valid"]
    for name, value in named.model.state_dict().items():
        torch.testing.assert_close(composed.model.state_dict()[name], value, rtol=0, atol=0, msg=name)


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

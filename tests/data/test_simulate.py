from __future__ import annotations

import numpy as np
import pytest
import soundfile

from earmark.data.labels import Labels
from earmark.data.loaders import load_dataset
from earmark.data.simulate import SourceClip, drop_labels, esc_sources, mix_clips, split_recordings
from earmark.testing.audio import write_tone


def complete_labels(num_clips=40, num_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    positive = rng.random((num_clips, num_classes)) < 0.3
    return Labels(
        clip_ids=np.array([f"c{i}" for i in range(num_clips)], dtype=object),
        class_names=tuple(f"k{j}" for j in range(num_classes)),
        positive=positive,
        annotated=np.ones_like(positive),
        source=np.array(["curated"] * num_clips, dtype=object),
        fold=np.arange(num_clips) % 5 + 1,
        duration_seconds=np.ones(num_clips),
    )


def test_explicit_mode_hides_exactly_the_rate_of_entries_of_the_chosen_clips():
    labels = complete_labels()
    rows = labels.fold != 5
    dropped = drop_labels(labels, rate=0.4, mode="explicit", seed=1, clips=rows)
    eligible = int(labels.annotated[rows].sum())
    assert int((~dropped.annotated[rows]).sum()) == round(0.4 * eligible)
    # test rows untouched; a hidden entry is never positive; kept entries keep their value
    assert (dropped.annotated[~rows]).all()
    assert (dropped.positive[~rows] == labels.positive[~rows]).all()
    assert not (dropped.positive & ~dropped.annotated).any()
    assert (dropped.positive[dropped.annotated] == labels.positive[dropped.annotated]).all()
    # both positives and negatives were hidden
    hidden = labels.annotated & ~dropped.annotated
    assert (hidden & labels.positive).any()
    assert (hidden & ~labels.positive).any()


def test_positives_only_mode_keeps_positives_and_drops_the_rate_of_them():
    labels = complete_labels()
    rows = labels.fold != 5
    dropped = drop_labels(labels, rate=0.2, mode="positives_only", seed=1, clips=rows)
    assert (dropped.annotated[rows] == dropped.positive[rows]).all()
    assert int(labels.positive[rows].sum() - dropped.positive[rows].sum()) == round(
        0.2 * labels.positive[rows].sum()
    )
    assert (dropped.annotated[~rows]).all()
    assert not (dropped.positive & ~labels.positive).any()


def test_drops_are_seeded_and_the_ends_of_the_range_hold():
    labels = complete_labels()
    a = drop_labels(labels, rate=0.3, mode="explicit", seed=4)
    assert a.equals(drop_labels(labels, rate=0.3, mode="explicit", seed=4))
    assert not a.equals(drop_labels(labels, rate=0.3, mode="explicit", seed=5))
    assert drop_labels(labels, rate=0.0, mode="explicit", seed=0).equals(labels)
    assert not drop_labels(labels, rate=1.0, mode="explicit", seed=0).annotated.any()
    assert not drop_labels(labels, rate=1.0, mode="positives_only", seed=0).positive.any()


def test_bad_drop_arguments_raise():
    labels = complete_labels()
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        drop_labels(labels, rate=1.5, mode="explicit", seed=0)
    with pytest.raises(ValueError, match="mode must be"):
        drop_labels(labels, rate=0.1, mode="sometimes", seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bool mask"):
        drop_labels(labels, rate=0.1, mode="explicit", seed=0, clips=np.ones(3, dtype=bool))


def tone_sources(folder, classes=6, recordings=3, takes=2):
    sources = []
    for k in range(classes):
        for r in range(recordings):
            for t in range(takes):
                path = folder / f"{k}-{r}-{t}.wav"
                seconds = 3.0 + 1.5 * t  # shorter and longer than the mixtures
                write_tone(path, frequency_hz=200.0 * (k + 1), duration_seconds=seconds)
                sources.append(SourceClip(path, f"class{k}", f"rec{k}{r}"))
    return sources


def test_recordings_never_cross_the_split(tmp_path):
    sources = tone_sources(tmp_path)
    train, test = split_recordings(sources, test_share=0.3, seed=0)
    assert {c.recording for c in train}.isdisjoint({c.recording for c in test})
    assert len(train) + len(test) == len(sources)
    assert {c.class_name for c in test} == {c.class_name for c in train}
    with pytest.raises(ValueError, match="test_share"):
        split_recordings(sources, test_share=1.0, seed=0)
    with pytest.raises(ValueError, match="two classes"):
        split_recordings(
            [*sources, SourceClip(sources[0].path, "class5", sources[0].recording)], test_share=0.3, seed=0
        )


def test_mixtures_are_unions_of_distinct_classes_and_load_as_a_csv_layout(tmp_path):
    sources = tone_sources(tmp_path / "src")
    train, test = split_recordings(sources, test_share=0.3, seed=0)
    result = mix_clips(train, test, tmp_path / "mix", train_mixtures=12, test_mixtures=4, seconds=4.0, seed=3)
    manifest = load_dataset("csv", {"table": str(result.table), "classes": str(result.classes)})
    labels = manifest.labels
    assert labels.num_clips == 16
    assert labels.annotated.all()
    counts = labels.positive.sum(axis=1)
    assert counts.min() >= 2
    assert counts.max() <= 4
    assert sorted(set(labels.fold.tolist())) == [1, 2, 3, 4, 5]
    assert (labels.fold == 5).sum() == 4
    for path in sorted((tmp_path / "mix" / "audio").rglob("*.flac")):
        samples, rate = soundfile.read(path)
        assert rate == 16000
        assert len(samples) == 4 * 16000
        assert np.abs(samples).max() <= 0.99 + 1e-4
    # the test mixtures use only test recordings
    rows = result.table.read_text().splitlines()[1:]
    test_files = {c.path.name for c in test}
    for row in rows:
        if row.startswith("audio/test/"):
            assert set(row.rsplit(",", 1)[1].split()) <= test_files
    again = mix_clips(
        train, test, tmp_path / "again", train_mixtures=12, test_mixtures=4, seconds=4.0, seed=3
    )
    assert again.table.read_text() == result.table.read_text()
    with pytest.raises(ValueError, match="fewer than 4"):
        mix_clips(train[:2], test, tmp_path / "few", train_mixtures=2, test_mixtures=0)


@pytest.mark.realdata
def test_esc_sources_leave_out_esc10_fold_4_and_cover_the_50_categories(shared_data):
    sources = esc_sources(shared_data)
    assert len({c.class_name for c in sources}) == 50
    takes = [(c.recording, c.path.stem.split("-")[2]) for c in sources]
    assert len(takes) == len(set(takes))
    assert not [c for c in sources if "esc10" in c.path.parts and c.path.name.startswith("4-")]
    assert {c.class_name for c in sources if "esc10" in c.path.parts} == {
        "dog", "rain", "sea_waves", "crying_baby", "clock_tick",
        "sneezing", "helicopter", "chainsaw", "rooster", "crackling_fire",
    }  # fmt: skip
    train, test = split_recordings(sources, test_share=0.3, seed=0)
    assert {c.recording for c in train}.isdisjoint({c.recording for c in test})


def test_simulate_commands_refuse_bad_input(tmp_path):
    from typer.testing import CliRunner

    from earmark.cli import app
    from earmark.data.table import write_labels

    labels = write_labels(complete_labels(), tmp_path / "labels.csv")
    runner = CliRunner()
    common = ["simulate", "missing", "--labels", str(labels), "--out", str(tmp_path / "o.csv")]
    result = runner.invoke(app, [*common, "--rate", "0.2", "--mode", "sometimes"])
    assert "--mode must be explicit or positives_only" in str(result.exception)
    result = runner.invoke(app, [*common, "--rate", "2"])
    assert "rate must be in [0, 1]" in str(result.exception)
    result = runner.invoke(
        app, ["simulate", "esc-mix", "--out", str(tmp_path / "m"), "--data", str(tmp_path)]
    )
    assert "lacks esc10/audio" in str(result.exception)
    ok = runner.invoke(app, [*common, "--rate", "0.2", "--keep-folds", "5"])
    assert ok.exit_code == 0, ok.output

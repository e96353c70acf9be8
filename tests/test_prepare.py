from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from earmark.data.labels import Labels
from earmark.data.loaders import load_dataset
from earmark.data.manifest import Manifest, PrecomputedFrames
from earmark.data.table import read_labels
from earmark.features.audio import AudioError, load_audio
from earmark.features.embeddings import PrecomputedConfig
from earmark.features.logmel import LogMel, LogMelConfig
from earmark.features.store import FeatureStore
from earmark.prepare import merge_shards, parse_shard, prepare
from earmark.testing import write_broken_files, write_tone

CONFIG = LogMelConfig(n_mels=16)


def make_folder(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for c, (name, hz) in enumerate([("001 - Low tone", 220.0), ("002 - High tone", 1760.0)]):
        for i in range(per_class):
            write_tone(
                root / name / f"{1 + i % 3}-{c}{i:03d}-A.wav",
                frequency_hz=hz,
                duration_seconds=0.3 + 0.1 * i,
                sample_rate=22050,
                rng=rng,
            )
    return root


def folder_manifest(root: Path) -> Manifest:
    return load_dataset("folder", {"root": str(root), "fold_pattern": r"^(\d+)-"})


def test_prepare_writes_labels_and_features(tmp_path):
    manifest = folder_manifest(make_folder(tmp_path / "audio"))
    result = prepare(manifest, tmp_path / "out", CONFIG)
    assert result.finished
    assert result.clips_per_split == {"all": 12}
    labels = read_labels(tmp_path / "out" / "labels.csv")
    assert labels.num_clips == 12
    assert labels.class_names == ("Low tone", "High tone")
    assert sorted(set(labels.fold.tolist())) == [1, 2, 3]
    assert labels.duration_seconds[0] == pytest.approx(0.3, abs=1e-3)
    store = FeatureStore(tmp_path / "out" / "features" / "all")
    assert store.clip_ids.tolist() == labels.clip_ids.tolist()
    path = manifest.audio_paths[5]
    expected = LogMel(CONFIG).compute(load_audio(path, 16000)[0])
    np.testing.assert_allclose(store[labels.clip_ids[5]], expected, atol=2e-2, rtol=1e-3)
    # a second run finds everything finished and changes nothing
    before = (tmp_path / "out" / "features" / "all" / "frames.f16").stat().st_mtime_ns
    calls = []
    prepare(manifest, tmp_path / "out", CONFIG, progress=calls.append)
    assert (tmp_path / "out" / "features" / "all" / "frames.f16").stat().st_mtime_ns == before
    assert calls == []


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from earmark.data.loaders import load_dataset
    from earmark.features.logmel import LogMelConfig
    from earmark.prepare import prepare
    manifest = load_dataset("folder", {"root": sys.argv[1], "fold_pattern": r"^(\\d+)-"})
    seen = []
    def progress(n):
        seen.append(n)
        if sum(seen) >= int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
    prepare(manifest, sys.argv[2], LogMelConfig(n_mels=16), batch_clips=2, progress=progress)
    """
)


def test_resume_after_kill_redoes_nothing_finished(tmp_path):
    root = make_folder(tmp_path / "audio")
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    run = subprocess.run([sys.executable, str(script), str(root), str(tmp_path / "out"), "5"], check=False)
    assert run.returncode == -9  # killed, as planned
    assert not (tmp_path / "out" / "features" / "all" / "store.json").exists()
    manifest = folder_manifest(root)
    fresh = []
    resumed = prepare(manifest, tmp_path / "out", CONFIG, batch_clips=2, progress=fresh.append)
    # the first call reports the clips already done, then only the rest are computed
    assert fresh[0] >= 4
    assert sum(fresh) == 12
    reference = prepare(manifest, tmp_path / "ref", CONFIG, batch_clips=2)
    assert resumed.labels is not None
    assert reference.labels is not None
    assert resumed.labels.equals(reference.labels)
    a, b = FeatureStore(tmp_path / "out/features/all"), FeatureStore(tmp_path / "ref/features/all")
    assert a.clip_ids.tolist() == b.clip_ids.tolist()
    for clip in a.clip_ids:
        np.testing.assert_array_equal(a[clip], b[clip])


def test_shards_merge_to_the_unsharded_result(tmp_path):
    manifest = folder_manifest(make_folder(tmp_path / "audio", per_class=5))
    for i in range(3):
        result = prepare(manifest, tmp_path / "sharded", CONFIG, shard=(i, 3))
        assert not result.finished
    merged = merge_shards(tmp_path / "sharded")
    whole = prepare(manifest, tmp_path / "whole", CONFIG)
    assert merged.labels is not None
    assert whole.labels is not None
    assert merged.labels.equals(whole.labels)
    a, b = (
        FeatureStore(tmp_path / "sharded/features/all"),
        FeatureStore(tmp_path / "whole/features/all"),
    )
    assert a.clip_ids.tolist() == b.clip_ids.tolist()
    for clip in a.clip_ids:
        np.testing.assert_array_equal(a[clip], b[clip])
    assert not list((tmp_path / "sharded/features/all").glob("shard-*"))


def test_merge_refuses_unfinished_shards(tmp_path):
    manifest = folder_manifest(make_folder(tmp_path / "audio", per_class=2))
    prepare(manifest, tmp_path / "out", CONFIG, shard=(0, 2))
    with pytest.raises(ValueError, match="1 of 2 shards are finished"):
        merge_shards(tmp_path / "out")


def test_parse_shard(monkeypatch):
    assert parse_shard("1/4") == (1, 4)
    assert parse_shard(None) is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert parse_shard("auto") == (1, 2)
    for bad in ("4/4", "x", "1-2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


@pytest.mark.parametrize("kind", ["empty", "corrupt", "zero_length", "nan", "inf"])
def test_bad_audio_raises_naming_the_file_or_is_skipped_and_reported(tmp_path, kind):
    root = make_folder(tmp_path / "audio", per_class=2)
    broken = write_broken_files(tmp_path / "broken")[kind]
    target = root / "001 - Low tone" / f"2-9{kind}.wav"
    broken.rename(target)
    manifest = folder_manifest(root)
    with pytest.raises(AudioError, match=rf"{target.name}.*--on-error skip"):
        prepare(manifest, tmp_path / "raise", CONFIG)
    result = prepare(manifest, tmp_path / "skip", CONFIG, on_error="skip")
    assert list(result.skipped) == [target.stem]
    assert result.labels is not None
    assert target.stem not in result.labels.clip_ids
    report = (tmp_path / "skip" / "skipped.csv").read_text()
    assert target.stem in report
    assert str(target) in report


def test_missing_audio_file(tmp_path):
    root = make_folder(tmp_path / "audio", per_class=2)
    manifest = folder_manifest(root)
    gone = Path(manifest.audio_paths[1])
    gone.unlink()
    with pytest.raises(AudioError, match=rf"{gone.name}: file does not exist \(clip '{gone.stem}'"):
        prepare(manifest, tmp_path / "raise", CONFIG)
    assert not (tmp_path / "raise").exists()
    result = prepare(manifest, tmp_path / "skip", CONFIG, on_error="skip")
    assert result.skipped == {gone.stem: "file does not exist"}


def test_precomputed_frames_go_straight_into_the_store(tmp_path, rng):
    frames = rng.integers(0, 256, size=(4, 3, 8)).astype(np.float32)
    labels = Labels.from_lists(
        ["a", "b", "c", "d"],
        [["x"], [], ["y"], ["x", "y"]],
        ["x", "y"],
        annotation="positives_only",
    )
    config = PrecomputedConfig(dim=8)
    manifest = Manifest(
        labels,
        np.array([""] * 4, dtype=object),
        np.array(["train"] * 3 + ["test"], dtype=object),
        precomputed=PrecomputedFrames(config, lambda i: frames[i]),
    )
    result = prepare(manifest, tmp_path / "out", config)
    assert result.clips_per_split == {"train": 3, "test": 1}
    store = FeatureStore(tmp_path / "out/features/test")
    np.testing.assert_array_equal(store["d"], frames[3].astype(np.float16))
    assert store.duration_seconds[0] == pytest.approx(3 * 0.96)
    with pytest.raises(ValueError, match="ships precomputed features but the front-end is LogMel"):
        prepare(manifest, tmp_path / "other", CONFIG)


def test_real_esc10(esc10_prepared):
    labels = read_labels(esc10_prepared / "labels.csv")
    assert labels.num_clips == 400
    assert labels.num_classes == 10
    assert sorted(set(labels.fold.tolist())) == [1, 2, 3, 4, 5]
    assert (labels.positive.sum(0) == 40).all()
    store = FeatureStore(esc10_prepared / "features" / "all")
    assert len(store) == 400
    durations = labels.duration_seconds
    assert durations.min() > 3.5
    assert durations.max() < 7.5


def test_a_prepare_that_keeps_no_clip_is_an_error(tmp_path):
    from earmark.prepare import PrepareError

    root = make_folder(tmp_path / "audio", per_class=1)
    manifest = folder_manifest(root)
    for path in manifest.audio_paths:
        Path(path).unlink()
    with pytest.raises(PrepareError, match=r"no clip was prepared \(2 skipped, e\.g\. file does not exist"):
        prepare(manifest, tmp_path / "skip", CONFIG, on_error="skip")
    assert (tmp_path / "skip" / "skipped.csv").read_text().count("file does not exist") == 2

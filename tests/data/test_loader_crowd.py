from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmark.config import ConfigError
from earmark.data.labels import LabelError
from earmark.data.loaders import load_dataset
from earmark.data.loaders.crowd import match_class_names, normalise_class_name

HEADER = (
    "Task ID,Worker trust,Worker ID (anonymized),Country,Region,City,"
    "Worker prediction,Ground truth,Recording,Correct\n"
)


def judgment(prediction: str, truth: str, recording: str, worker: int = 1) -> str:
    return f"1,1,{worker},CAN,BC,Burnaby,{prediction},{truth},{recording},{int(prediction == truth)}\n"


def write_crowd(tmp_path: Path, lines: list[str], stems: list[str]) -> tuple[str, str]:
    audio = tmp_path / "audio" / "001 - Dog bark"
    audio.mkdir(parents=True)
    for stem in stems:
        (audio / f"{stem}.flac").write_bytes(b"fLaC")
    path = tmp_path / "crowd_judgments.csv"
    path.write_text(HEADER + "".join(lines))
    return str(path), str(tmp_path / "audio")


LINES = [
    judgment("Dog bark", "Dog bark", "1-100-A", 1),
    judgment("Rain", "Dog bark", "1-100-A", 2),
    judgment("Dog bark", "Dog bark", "1-100-A", 3),
    judgment("Rain", "Rain", "2-200-A", 1),
    judgment("Sea waves", "Rain", "2-200-A", 2),
    judgment("Rain", "Rain", "3-300-A", 1),  # no audio for this one
    judgment("Sea waves", "Sea waves", "4-400-A", 1),
]
STEMS = ["1-100-A", "2-200-A", "4-400-A"]


def test_modes(tmp_path):
    judgments, audio = write_crowd(tmp_path, LINES, STEMS)
    options = {"judgments": judgments, "audio_root": audio, "fold_pattern": r"^(\d+)-"}
    every = load_dataset("crowd", {**options, "mode": "all"})
    labels = every.labels
    assert labels.class_names == ("Dog bark", "Rain", "Sea waves")
    assert labels.clip_ids.tolist() == STEMS  # 3-300-A has no audio
    assert labels.positive.tolist() == [[True, True, False], [False, True, True], [False, False, True]]
    assert labels.source.tolist() == ["noisy", "noisy", "noisy"]
    assert labels.fold.tolist() == [1, 2, 4]
    assert labels.annotated.all()
    assert every.check_files() == []
    majority = load_dataset("crowd", {**options, "mode": "majority"}).labels
    assert majority.positive[0].tolist() == [True, False, False]
    assert majority.positive[1, 1] != majority.positive[1, 2]  # a tie, drawn
    one = [load_dataset("crowd", {**options, "seed": s}).labels for s in range(8)]
    assert all((o.positive.sum(axis=1) == 1).all() for o in one)
    assert len({o.positive[0, 0] for o in one}) == 2  # different workers are drawn
    again = load_dataset("crowd", {**options, "seed": 3}).labels
    assert np.array_equal(again.positive, one[3].positive)


def test_draw_does_not_depend_on_other_clips(tmp_path):
    judgments, audio = write_crowd(tmp_path, LINES, STEMS)
    full = load_dataset("crowd", {"judgments": judgments, "audio_root": audio, "seed": 5}).labels
    (Path(audio) / "001 - Dog bark" / "1-100-A.flac").unlink()
    part = load_dataset("crowd", {"judgments": judgments, "audio_root": audio, "seed": 5}).labels
    assert part.clip_ids.tolist() == ["2-200-A", "4-400-A"]
    assert np.array_equal(part.positive, full.positive[1:])


def test_recording_with_suffix_and_target_in_file_stem(tmp_path):
    lines = [judgment("Dog", "Dog", "1-100-A.ogg"), judgment("Rain", "Rain", "1-200-B.ogg")]
    judgments, audio = write_crowd(tmp_path, lines, ["1-100-A-0", "1-200-B-10"])
    labels = load_dataset("crowd", {"judgments": judgments, "audio_root": audio}).labels
    assert labels.clip_ids.tolist() == ["1-100-A-0", "1-200-B-10"]


def test_normalisation_and_matching():
    assert normalise_class_name("Door - wood creaks") == normalise_class_name("door_wood_creaks")
    vocabulary = ["dog", "crackling_fire", "insects", "door_wood_knock", "door_wood_creaks"]
    names = ["Dog", "Fire crackling", "Insects (flying)", "Door knock", "Door - wood creaks"]
    assert match_class_names(names, vocabulary) == dict(zip(names, vocabulary, strict=True))
    with pytest.raises(
        LabelError,
        match=r"crowd class 'Wood' matches no single class .*candidates: door_wood_knock, door_wood_creaks",
    ):
        match_class_names(["Wood"], vocabulary)
    with pytest.raises(
        LabelError, match=r"crowd class 'Baby cry' matches no single class of the vocabulary;"
    ):
        match_class_names(["Baby cry"], vocabulary)
    assert match_class_names(["Baby cry"], ["crying_baby"], {"Baby cry": "crying_baby"}) == {
        "Baby cry": "crying_baby"
    }
    with pytest.raises(
        ConfigError, match=r"class_aliases: 'Baby cry' -> 'baby', which is not in the vocabulary"
    ):
        match_class_names(["Baby cry"], ["crying_baby"], {"Baby cry": "baby"})


def test_unmappable_class_names_the_file(tmp_path):
    judgments, audio = write_crowd(tmp_path, LINES, ["1-100-A"])
    classes = tmp_path / "classes.txt"
    classes.write_text("dog\nrain\nocean\n")
    options = {"judgments": judgments, "audio_root": audio, "class_names": str(classes)}
    with pytest.raises(
        LabelError, match=r"crowd_judgments\.csv: crowd class 'Sea waves' matches no single class"
    ):
        load_dataset("crowd", options)
    labels = load_dataset("crowd", {**options, "class_aliases": {"Sea waves": "ocean"}}).labels
    assert labels.class_names == ("dog", "rain", "ocean")  # "Dog bark" -> "dog" by its words
    assert labels.positive[0, 0]


def test_prediction_outside_the_ground_truths_raises(tmp_path):
    lines = [judgment("Dog bark", "Dog bark", "1-100-A"), judgment("Siren", "Dog bark", "1-100-A", 2)]
    judgments, audio = write_crowd(tmp_path, lines, ["1-100-A"])
    with pytest.raises(LabelError, match=r"crowd class 'Siren' matches no single class of the vocabulary"):
        load_dataset("crowd", {"judgments": judgments, "audio_root": audio})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [judgment("Rain", "Rain", "1-100-A"), judgment("Rain", "Dog bark", "1-100-A")],
            r"line 3: recording '1-100-A' has ground truth 'Dog bark' here but 'Rain' on line 2",
        ),
        ([judgment("", "Rain", "1-100-A")], r"line 2: empty Recording, Worker prediction or Ground truth"),
        ([], r"crowd_judgments\.csv: no judgments"),
    ],
)
def test_bad_judgments(tmp_path, lines, message):
    judgments, audio = write_crowd(tmp_path, lines, ["1-100-A"])
    with pytest.raises(LabelError, match=message):
        load_dataset("crowd", {"judgments": judgments, "audio_root": audio})


def test_missing_column_audio_and_duplicates(tmp_path):
    judgments, audio = write_crowd(tmp_path, LINES, ["1-100-A"])
    Path(judgments).write_text("Worker prediction,Recording\nRain,1-100-A\n")
    with pytest.raises(LabelError, match=r"crowd judgments has no column 'Ground truth'"):
        load_dataset("crowd", {"judgments": judgments, "audio_root": audio})
    Path(judgments).write_text(HEADER + "".join(LINES))
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelError, match=r"none of the 4 recordings of .* has audio under .*empty"):
        load_dataset("crowd", {"judgments": judgments, "audio_root": str(tmp_path / "empty")})
    with pytest.raises(LabelError, match=r"audio_root .*nowhere is not a directory"):
        load_dataset("crowd", {"judgments": judgments, "audio_root": str(tmp_path / "nowhere")})
    (Path(audio) / "copy").mkdir()
    (Path(audio) / "copy" / "1-100-A.wav").write_bytes(b"RIFF")
    with pytest.raises(
        LabelError, match=r"recording '1-100-A' matches 2 audio files .*point audio_root at one copy"
    ):
        load_dataset("crowd", {"judgments": judgments, "audio_root": audio})
    with pytest.raises(ConfigError, match=r"fold_pattern: invalid regular expression"):
        load_dataset("crowd", {"judgments": judgments, "audio_root": audio, "fold_pattern": "(("})


# ----------------------------------------------------------------- real data
def test_real_esc10_crowd_against_the_folder_labels(shared_data):
    esc10 = shared_data / "esc10"
    clean = load_dataset("folder", {"root": str(esc10 / "audio"), "fold_pattern": r"^(\d+)-"}).labels
    options = {"judgments": str(esc10 / "crowd_judgments.csv"), "audio_root": str(esc10 / "audio")}
    crowd = load_dataset("crowd", {**options, "fold_pattern": r"^(\d+)-"}).labels
    # the crowd vocabulary is the folder loader's 10 class names (after its class_pattern)
    assert set(crowd.class_names) == set(clean.class_names)
    assert crowd.num_clips == 321  # the clips with at least one judgment
    assert set(crowd.source) == {"noisy"}
    same = clean.select(clip_ids=crowd.clip_ids)
    assert np.array_equal(crowd.fold, same.fold)
    aligned = crowd.with_classes(clean.class_names)
    agreement = (aligned.positive == same.positive).all(axis=1).mean()
    assert 0.90 <= agreement <= 0.99  # 95.7 % of ESC-10 crowd judgments are correct
    majority = load_dataset("crowd", {**options, "mode": "majority"}).labels.with_classes(clean.class_names)
    assert (majority.positive == same.positive).all(axis=1).mean() >= agreement


def test_real_esc50_crowd_maps_onto_the_50_categories(shared_data, tmp_path):
    folder = shared_data / "esc50_fold4"
    clean = load_dataset(
        "esc50", {"root": str(folder / "audio"), "metadata": str(folder / "esc50.csv")}
    ).labels
    classes = tmp_path / "esc50_categories.txt"
    classes.write_text("\n".join(clean.class_names) + "\n")
    options = {
        "judgments": str(folder / "crowd_judgments.csv"),
        "audio_root": str(folder / "audio"),
        "class_names": str(classes),
    }
    crowd = load_dataset("crowd", options).labels
    assert crowd.class_names == clean.class_names
    assert crowd.num_clips == 414  # of 2,000 judged recordings, the ones whose audio is here
    same = clean.select(clip_ids=crowd.clip_ids)
    agreement = (crowd.positive == same.positive).all(axis=1).mean()
    assert 0.70 <= agreement <= 0.90  # 81.3 % of ESC-50 crowd judgments are correct

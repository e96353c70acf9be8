from __future__ import annotations

import numpy as np
from tag_cases import SyntheticBackend, basis

from earmark.tags import CollapseOptions, build_vocabulary, collapse_tags, read_vocabulary
from earmark.tags.decide import decide, parent_placement


def test_a_parent_column_is_read_and_checked(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text(
        "tag,category,parent\nrock,genre,\nindie rock,genre,rock\nshoegaze,genre,indie rock\n"
        "polka,genre,waltz\nloop a,genre,loop b\nloop b,genre,loop a\n",
        encoding="utf-8",
    )
    entries = read_vocabulary(path)
    assert entries[1] == ("indie rock", "genre", "rock")
    vocabulary = build_vocabulary(entries)
    by_name = vocabulary.by_name
    assert by_name["indie rock"].parent == "rock"
    assert [t.name for t in vocabulary.ancestors(by_name["shoegaze"])] == ["indie rock", "rock"]
    assert by_name["polka"].parent == ""  # names no target
    assert "'waltz', which is no other target" in " ".join(vocabulary.warnings)
    assert "cycle" in " ".join(vocabulary.warnings)
    assert not (by_name["loop a"].parent and by_name["loop b"].parent)


def test_multi_maps_a_tag_to_its_targets_parents_too():
    entries = [("rock", "genre", None), ("indie rock", "genre", "rock"), ("sad", "emotion")]
    vocabulary = build_vocabulary(entries)
    options = CollapseOptions(multi=True, fit_sample=0)
    tags = ["great indie rock", "sad indie rock"]
    mapping = collapse_tags(tags, vocabulary, method="rules", options=options)
    assert [(r.target, r.rule) for r in mapping.rows_of("great indie rock")] == [
        ("indie rock", "containment"), ("rock", "parent"),
    ]  # fmt: skip
    assert [r.target for r in mapping.rows_of("sad indie rock")] == ["sad", "indie rock", "rock"]
    single = collapse_tags(["great indie rock"], vocabulary, method="rules")
    assert [r.target for r in single.rows_of("great indie rock")] == ["indie rock"]


def test_stage_three_places_a_near_tag_under_the_parent():
    # "baroque" is near "harpsichord" (a child of "classical") but not under its 0.1 % percentile
    vocabulary = build_vocabulary(
        [("classical", "genre", None), ("harpsichord", "descriptive", "classical"), ("metal", "genre", None)]
    )
    backend = SyntheticBackend(
        {
            "classical": basis(32, (0, 1.0)),
            "harpsichord": basis(32, (1, 1.0)),
            "metal": basis(32, (2, 1.0)),
            "baroque": basis(32, (1, 1.0), (3, 2.0)),
        }
    )
    tags = ["baroque", *(f"noise tag {i}" for i in range(2000))]
    plain = collapse_tags(tags, vocabulary, method="embedding", backend=backend)
    assert plain.row_of("baroque").target == ""
    options = CollapseOptions(parent_percentile=2.0, fit_sample=0)
    placed = collapse_tags(tags, vocabulary, method="embedding", backend=backend, options=options)
    row = placed.row_of("baroque")
    assert (row.target, row.rule) == ("classical", "parent")
    assert "nearest 'harpsichord'" in row.detail


def test_parent_placement_by_hand():
    # 1 child (index 0, parent 1) and its parent; 200 background tags, then two tags near the child
    rng = np.random.default_rng(1)
    distances = np.vstack([rng.normal(1.3, 0.1, 202), rng.normal(1.3, 0.1, 202)])
    distances[:, 200] = [1.05, 1.4]  # z = -2.5 under the child: above 0.1 %, below 2 %
    distances[:, 201] = [1.25, 1.4]  # z = -0.5: too far
    decision = decide(distances)
    assert decision.target[200:].tolist() == [-1, -1]
    placed = parent_placement(decision, np.array([1, -1]), 2.0)
    assert placed[200:].tolist() == [1, -1]
    mean, std = decision.percentile.mean[0], decision.percentile.std[0]
    expected = (distances[0] < mean + std * -2.0537) & (distances[0] < distances[1]) & (decision.target < 0)
    assert (placed == np.where(expected, 1, -1)).all()

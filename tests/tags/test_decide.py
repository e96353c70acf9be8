from __future__ import annotations

import numpy as np
import pytest
from tag_cases import SyntheticBackend, basis

from earmark.tags import (
    CollapseOptions,
    build_vocabulary,
    collapse_tags,
    decide,
    normalize_tags,
    read_lexicon,
    rule_matches,
)


def distances_for(similarities: np.ndarray) -> np.ndarray:
    """L2 distances of unit vectors with these cosine similarities."""
    return np.sqrt(2.0 - 2.0 * np.asarray(similarities, dtype=np.float64))


@pytest.fixture
def two_targets():
    # 2 targets x 1,003 tags: 1,000 background tags around similarity 0.2 (sd 0.2), then three:
    # 0: 0.60 vs 0.30 (a clear lead, but under the 0.1 % percentile of target 0's normal)
    # 1: 0.60 vs 0.55 (no clear lead)
    # 2: 0.40 vs 0.10 (a clear lead, too dissimilar)
    rng = np.random.default_rng(0)
    background = rng.normal(0.2, 0.2, size=(2, 1000))
    extra = np.array([[0.60, 0.60, 0.40], [0.30, 0.55, 0.10]])
    return distances_for(np.clip(np.concatenate([background, extra], axis=1), -1, 1))


def test_margin_decision_by_hand(two_targets):
    percentile = decide(two_targets, rule="percentile")
    assert percentile.target[1000:].tolist() == [-1, -1, -1]  # thresholds near similarity 0.7
    margin = decide(two_targets, rule="margin", margin=0.1, min_similarity=0.5)
    assert margin.target[1000:].tolist() == [0, -1, -1]
    assert margin.rule[1000] == "margin"
    assert margin.margin[1000] == pytest.approx(0.30)
    assert margin.similarity[1000] == pytest.approx(0.60)
    looser = decide(two_targets, rule="margin", margin=0.04, min_similarity=0.35)
    assert looser.target[1000:].tolist() == [0, 0, 0]


def test_both_is_the_percentile_target_else_the_margin_one():
    similarities = np.full((2, 1001), 0.1)
    similarities[0, :500] = 0.3  # target 0's normal: mean 0.2, sd 0.1
    similarities[:, 1000] = [0.95, 0.9]  # percentile claims it for target 0; no margin
    distances = distances_for(similarities)
    assert decide(distances, rule="margin", margin=0.1).target[1000] == -1
    both = decide(distances, rule="both", margin=0.1)
    assert both.target[1000] == 0
    assert both.rule[1000] == "percentile"


def test_decide_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown decision rule 'nearest'"):
        decide(np.ones((2, 3)), rule="nearest")
    with pytest.raises(ValueError, match=r"margin must be in \[0, 2\]"):
        decide(np.ones((2, 3)), rule="margin", margin=-0.1)
    with pytest.raises(ValueError, match="unknown decision rule"):
        CollapseOptions(rule="nearest")
    with pytest.raises(ValueError, match="fit_sample"):
        CollapseOptions(fit_sample=-1)


def test_margin_rule_through_collapse_tags():
    vocabulary = build_vocabulary([("romantic", "emotion"), ("sad", "emotion")])
    backend = SyntheticBackend(
        {
            "romantic": basis(32, (0, 1.0)),
            "sad": basis(32, (1, 1.0)),
            "amorous": basis(32, (0, 1.0), (2, 2.0)),
        }
    )
    tags = ["amorous", *(f"noise tag {i}" for i in range(2000))]
    thesis = collapse_tags(tags, vocabulary, method="embedding", backend=backend)
    assert thesis.row_of("amorous").target == ""  # similarity 0.45: under the 0.1 % percentile
    options = CollapseOptions(rule="margin", margin=0.3, min_similarity=0.4, fit_sample=0)
    margin = collapse_tags(tags, vocabulary, method="embedding", backend=backend, options=options)
    row = margin.row_of("amorous")
    assert (row.target, row.rule) == ("romantic", "margin")
    assert row.score == pytest.approx(1 / np.sqrt(1 + 2.0**2), abs=1e-4)
    assert "above the next target" in row.detail


def test_a_sampled_fit_embeds_fewer_texts_and_moves_little():
    vocabulary = build_vocabulary([("happy", "emotion"), ("sad", "emotion")])
    calls: list[int] = []

    class Counting(SyntheticBackend):
        def __call__(self, texts):
            calls.append(len(texts))
            return super().__call__(texts)

    backend = Counting({"happy": basis(32, (0, 1.0)), "joyful": basis(32, (0, 1.0), (2, 0.1))})
    # 2,000 tags the rules map, 1,000 they leave, and "joyful", which only stage III maps
    tags = ["joyful", *(f"happy tune {i}" for i in range(2000)), *(f"noise tag {i}" for i in range(1000))]
    full = collapse_tags(tags, vocabulary, method="both", backend=backend)
    sampled = collapse_tags(
        tags, vocabulary, method="both", backend=backend, options=CollapseOptions(fit_sample=500, seed=3)
    )
    assert calls[0] == 2 + 3001  # the targets and every tag: the normals are fitted on all
    # the targets, the 1,001 tags stage III may take, and the sampled tags the rules mapped
    assert 2 + 1001 + 200 < calls[1] < 2 + 1001 + 500
    assert full.row_of("joyful").target == sampled.row_of("joyful").target == "happy"
    assert full.row_of("joyful").stage == "embedding"


def test_lexicon_places_a_style_under_its_parent(tmp_path):
    vocabulary = build_vocabulary([("rock", "genre"), ("electronic", "genre"), ("dance", "genre")])
    lexicon = read_lexicon("builtin")
    assert lexicon["grunge"][:2] == ["alternative rock", "rock"]
    found = rule_matches(
        normalize_tags(["grunge", "techno", "shoegaze", "baroque"]), vocabulary, lexicon=lexicon
    )
    assert [(m[0].target.name, m[0].rule) if m else None for m in found] == [
        ("rock", "lexicon"), ("electronic", "lexicon"), ("rock", "lexicon"), None,  # no classical target
    ]  # fmt: skip
    (house,) = rule_matches(normalize_tags(["house"]), vocabulary, lexicon=lexicon, multi=True)
    assert [m.target.name for m in house] == ["electronic", "dance"]
    assert rule_matches(normalize_tags(["grunge"]), vocabulary) == [()]  # no lexicon, no rule
    (dnb,) = rule_matches(normalize_tags(["liquid drum and bass"]), vocabulary, lexicon=lexicon)
    assert [(m.target.name, m.rule) for m in dnb] == [("electronic", "lexicon")]  # three-word style
    own = tmp_path / "styles.txt"
    own.write_text("# mine\nkrautrock\telectronic, rock\n", encoding="utf-8")
    assert read_lexicon(own) == {"krautrock": ["electronic", "rock"]}
    bad = tmp_path / "bad.txt"
    bad.write_text("krautrock electronic\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt, line 1: expected 'style<TAB>parent"):
        read_lexicon(bad)

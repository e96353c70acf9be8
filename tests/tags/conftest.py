from __future__ import annotations

import pytest
from tag_cases import SyntheticBackend, basis

from earmark.tags import Vocabulary, build_vocabulary


@pytest.fixture
def emotion_backend() -> SyntheticBackend:
    """happy = e0, sad = e1; joyful is next to happy, gloomy next to sad, bittersweet between."""
    dim = 32
    return SyntheticBackend(
        {
            "happy": basis(dim, (0, 1.0)),
            "sad": basis(dim, (1, 1.0)),
            "joyful": basis(dim, (0, 1.0), (2, 0.1)),
            "gloomy": basis(dim, (1, 1.0), (3, 0.15)),
            "bittersweet": basis(dim, (0, 1.0), (1, 1.1)),
        },
        dim,
    )


@pytest.fixture
def emotion_vocabulary() -> Vocabulary:
    return build_vocabulary([("happy", "emotion"), ("sad", "emotion")])


@pytest.fixture
def genre_vocabulary() -> Vocabulary:
    return build_vocabulary(
        [
            ("rock", "genre"),
            ("metal", "genre"),
            ("rock metal", "genre"),
            ("hip hop", "genre"),
            ("alternative rock", "genre"),
            ("pop", "genre"),
            ("indie", "genre"),
            ("80s", "number"),
            ("happy", "emotion"),
            ("sexy", "emotion"),
            ("british", "descriptive"),
            ("singer-songwriter", "genre"),
        ]
    )

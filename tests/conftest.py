"""Shared fixtures.

Integration tests need the real pretrained weights. `.ci/run` fetches them and sets
CULTURALSTYLE_REQUIRE_WEIGHTS=1, so there a missing artifact fails the test; on a developer machine without
the weights the test is skipped with the command that fetches them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch, request):
    """Unit tests get an empty private cache; integration tests keep the real one (it holds the weights)."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setenv("CULTURALSTYLE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def one_torch_thread():
    """Tiny tensors gain nothing from intra-op threads; on a busy 2-core machine the hand-offs dominate."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def require_weights(name: str) -> None:
    """Skip (or fail under CI) when the artifact `name` is not in the weights store."""
    from culturalstyle import weights

    try:
        weights.path(name)
    except weights.WeightsMissingError as error:
        if os.environ.get("CULTURALSTYLE_REQUIRE_WEIGHTS") == "1":
            raise
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def sample_corpus():
    from culturalstyle.corpus import Corpus

    return Corpus.load(SAMPLE)

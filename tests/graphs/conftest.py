"""WordNet for the tests: skipped locally / failing under CI=true when it is missing
(CI installs the Debian packages wordnet-base and wordnet-sense-index)."""

from __future__ import annotations

import pytest

from mlrobust.graphs.wordnet_data import wordnet_available
from tests.conftest import missing


def require_wordnet() -> None:
    if wordnet_available():
        return
    missing("WordNet 3.0 missing (apt-get install wordnet-base wordnet-sense-index)")


@pytest.fixture
def wordnet() -> None:
    require_wordnet()

import pytest
import torch

from tests.plugins import install_entry_points
from tests.portfolio._configs import PLUGINS

# the test machines are small and shared: one intra-op thread avoids oversubscription
torch.set_num_threads(1)


@pytest.fixture
def test_plugins(tmp_path, monkeypatch) -> None:
    """The misbehaving verifiers of tests/portfolio/_configs.py, registered by entry point."""
    install_entry_points(tmp_path / "site", monkeypatch, {"mlrobust.verifiers": PLUGINS})

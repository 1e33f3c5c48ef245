"""Shared fixtures. Data from ../shared/data is found through MLROBUST_DATA; under CI=true a
missing data file fails the test instead of skipping it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mlrobust.datasets.paths import data_dir


def require_data(*parts: str) -> Path:
    """Return the data path, or skip (locally) / fail (CI=true) when it is missing."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        message = f"data file missing: {path} (set MLROBUST_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _fixed_seed() -> None:
    torch.manual_seed(0)

"""Verify tests run single-threaded: the machines are shared and torch threads thrash."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)

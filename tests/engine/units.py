"""Units of work for the executor tests: importable by Ray workers (tests on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Unit:
    key: str
    seconds: float
    images: torch.Tensor  # the same big tensor in every unit: goes to Ray's store once


def slow_sum(unit: Unit) -> dict:
    """Sleeps, then returns a value that depends on the unit and the shared tensor."""
    time.sleep(unit.seconds)
    return {"key": unit.key, "value": float(unit.images.sum()) + int(unit.key), "pid": os.getpid()}


def fails(unit: Unit) -> dict:
    raise ValueError(f"unit {unit.key} is broken")


@contextmanager
def ray_env() -> Iterator[None]:
    """Environment for test clusters: no auth token to distribute, no usage reporting, and the
    repository on the workers' path (they import these units)."""
    root = str(Path(__file__).resolve().parents[2])
    new = {
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
    }
    old = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class Nap:
    """Sleep ``seconds`` after writing this worker's pid into ``folder`` (so a test knows the
    worker is inside the unit)."""

    key: str
    seconds: float
    folder: str


def nap(unit: Nap) -> str:
    (Path(unit.folder) / str(os.getpid())).write_text(unit.key)
    time.sleep(unit.seconds)
    return unit.key

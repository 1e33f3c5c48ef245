"""Pool workers die with their parent, however it dies (issue: after `kill -9` of
`mlrobust evaluate` its workers stayed alive, busy or idle, for minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import sys
from mlrobust.engine import PoolExecutor
from tests.engine.units import Nap, nap
ex = PoolExecutor(2)
for _ in ex.map_unordered(nap, [Nap(str(i), 120.0, sys.argv[1]) for i in range(4)]):
    pass
"""


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_workers_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)], env=env, cwd=root)
    try:
        deadline = time.monotonic() + 120  # spawned workers import torch first: be patient
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.name) for p in tmp_path.iterdir()]
        assert len(workers) == 2 and all(_alive(w) for w in workers)  # both inside a unit
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        t0 = time.monotonic()
        while any(_alive(w) for w in workers) and time.monotonic() - t0 < 10:
            time.sleep(0.2)
        survivors = [w for w in workers if _alive(w)]
        for w in survivors:  # clean up before failing
            os.kill(w, signal.SIGKILL)
        assert not survivors, "a worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()

"""A real two-node Ray cluster on this machine (`ray start` head + worker, 1 CPU each) loses
its worker node mid-campaign: Ray retries the lost units on the head and every unit is stored
exactly once. Skipped only where Ray is not installed, never under CI=true."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrobust.engine import RayExecutor, Store
from tests.engine.test_ray_executor import IMAGES, _store_rows, _units
from tests.engine.units import ray_env

if os.environ.get("CI") != "true":
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'mlrobust[ray]'")

RAY = Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[str]:
    """A head and a worker node (1 CPU each) started with `ray start` on 127.0.0.1; stopped at
    the end, also on failure."""
    port = _free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=100000000"]
    with ray_env():
        yield from _start_two_nodes(tmp_path, port, common)


def _start_two_nodes(tmp_path: Path, port: int, common: list[str]) -> Iterator[str]:
    env = {**os.environ}
    # a temp dir per node, short: Ray's socket paths must stay under 107 characters
    short, short2 = tempfile.mkdtemp(prefix="mlr"), tempfile.mkdtemp(prefix="mlr")
    try:
        subprocess.run(
            [str(RAY), "start", "--head", f"--port={port}", f"--temp-dir={short}"]
            + ["--include-dashboard=false", "--disable-usage-stats", *common],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        subprocess.run(
            [str(RAY), "start", f"--address=127.0.0.1:{port}", '--resources={"spare": 1}']
            + [f"--temp-dir={short2}", *common],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(short, ignore_errors=True)
        shutil.rmtree(short2, ignore_errors=True)


def _spare_raylet() -> int:
    """The worker node's raylet: the one whose resource list names "spare"."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone, or not a process folder
            continue
        if args and args[0].endswith(b"raylet") and any(b"spare," in a for a in args):
            pids.append(int(proc.name))
    assert len(pids) == 1, pids
    return pids[0]


def test_two_node_cluster_finishes_after_losing_a_node(tmp_path: Path, two_nodes: str) -> None:
    ex = RayExecutor(two_nodes, max_retries=3)
    try:
        import ray

        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        units = _units(10, 1.0)
        killed = threading.Event()

        def kill_when_running() -> None:
            time.sleep(4.0)  # both nodes are busy with units by now
            os.kill(_spare_raylet(), signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_when_running)
        killer.start()
        rows = _store_rows(tmp_path, ex, units)
        killer.join()
        assert killed.is_set()
        # the head marks the node dead after its health checks fail: on a loaded machine that
        # can come after the units finished elsewhere
        deadline = time.monotonic() + 60
        while len([n for n in ray.nodes() if n["Alive"]]) != 1 and time.monotonic() < deadline:
            time.sleep(1.0)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 1
    finally:
        ex.close()
    # every unit stored exactly once, with the right value, none as an error row
    assert sorted(rows, key=int) == [u.key for u in units]
    assert all(rows[u.key]["value"] == float(IMAGES.sum()) + int(u.key) for u in units)
    store = Store(tmp_path / "units.sqlite", "test")
    assert store.payloads("error") == {}
    store.close()

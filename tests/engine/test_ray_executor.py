"""The Ray executor: the same answers as the other executors, a real two-node cluster that loses
a node mid-run, cancellation, and clear errors. Skipped only where Ray is not installed, never
under CI=true (the extra is part of the setup)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mlrobust.engine import PoolExecutor, RayExecutor, SerialExecutor, Store, run_pending
from mlrobust.errors import InputError
from tests.engine.units import Unit, fails, ray_env, slow_sum

if os.environ.get("CI") != "true":
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'mlrobust[ray]'")

IMAGES = torch.ones(300, 1, 28, 56)  # 1.9 MB: shared through the object store


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray instance (2 CPUs) for this module: the executors join it, so the workers
    start once (seconds each on a busy 2-core machine)."""
    import ray

    with ray_env():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield
        finally:
            ray.shutdown()


def _units(n: int, seconds: float) -> list[Unit]:
    return [Unit(key=str(i), seconds=seconds, images=IMAGES) for i in range(n)]


def _store_rows(tmp: Path, executor, units: list[Unit]) -> dict[str, dict]:
    tmp.mkdir(parents=True, exist_ok=True)
    store = Store(tmp / "units.sqlite", "test")
    try:
        run_pending(
            executor,
            slow_sum,
            units,
            store,
            key=lambda u: u.key,
            rows=lambda u, r: [(u.key, "unit", r)],
        )
        return store.payloads("unit")
    finally:
        store.close()


def test_local_ray_gives_the_serial_answers(tmp_path: Path) -> None:
    units = _units(6, 0.0)
    serial = _store_rows(tmp_path / "serial", SerialExecutor(), units)
    ex = RayExecutor()
    try:
        ray = _store_rows(tmp_path / "ray", ex, units)
        assert len(ex._shared) == 1  # one put for the tensor all six units carry
    finally:
        ex.close()
    assert {k: v["value"] for k, v in ray.items()} == {k: v["value"] for k, v in serial.items()}
    assert {v["pid"] for v in ray.values()} - {os.getpid()}  # ran in Ray's workers


def test_a_task_no_node_can_hold_is_refused() -> None:
    with pytest.raises(InputError, match="No node of the Ray cluster has 100000000 MB"):
        RayExecutor(memory_mb=100_000_000)


def test_unit_exceptions_are_reraised_and_cancel_the_rest(tmp_path: Path) -> None:
    ex = RayExecutor()
    try:
        with pytest.raises(ValueError, match=r"^unit \d is broken$"):
            list(ex.map_unordered(fails, _units(4, 0.0)))
        # an interrupted iteration (Ctrl-C in the driver) leaves what was stored
        store = Store(tmp_path / "s.sqlite", "test")
        seen: list[str] = []

        def rows(u: Unit, r: dict) -> list:
            seen.append(u.key)
            if len(seen) == 2:
                raise KeyboardInterrupt
            return [(u.key, "unit", r)]

        with pytest.raises(KeyboardInterrupt):
            run_pending(ex, slow_sum, _units(8, 0.2), store, key=lambda u: u.key, rows=rows)
        assert len(store.payloads("unit")) == 1
        store.close()
        rest = _store_rows(tmp_path, ex, _units(8, 0.0))  # resume: the other 7 run now
        assert sorted(rest, key=int) == [str(i) for i in range(8)]
    finally:
        ex.close()


def test_evaluate_grid_is_the_same_under_every_executor(tmp_path: Path) -> None:
    from mlrobust.evaluate import evaluate
    from tests.evaluate.helpers import tiny_config

    cfg = tiny_config(tmp_path)

    def cells(**kw: object) -> list[tuple]:
        (rep,) = evaluate(replace(cfg, out_dir=tmp_path / str(kw), **kw))  # type: ignore[arg-type]
        return sorted((c["image"], c["eps"], c["label"], c["verdict"]) for c in rep.result.cells)

    serial = cells(workers=1)
    assert cells(workers=2) == serial
    assert cells(executor="ray") == serial


def test_portfolio_runs_on_ray_as_on_the_thread_pool(tiny, tmp_path: Path) -> None:
    from mlrobust.portfolio import InstanceSpec
    from mlrobust.portfolio.runner import run_portfolio

    specs = [
        InstanceSpec(
            id=f"tiny:{p}", onnx=tiny / "tiny.onnx", vnnlib=tiny / f"{p}.vnnlib", timeout=20.0
        )
        for p in ("holds", "violated")
    ]
    names = ["bab", "attack_only"]

    def answers(executor) -> dict:  # type: ignore[no-untyped-def]
        folder = tmp_path / type(executor).__name__
        summary = run_portfolio(specs, names, folder / "runs.sqlite", executor=executor)
        executor.close()
        return {
            (r.verifier, r.instance): (r.answer, r.peak_memory_mb > 0) for r in summary.completed
        }

    pool = answers(PoolExecutor(2, threads=True))
    assert len(pool) == 4
    assert answers(RayExecutor()) == pool  # answers, and peak memory recorded in both


def test_bad_addresses_fail_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    ray.shutdown()  # joining a cluster is only tried from a fresh driver
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(InputError, match=f"No Ray cluster answers at 127.0.0.1:{port}"):
        RayExecutor(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 10
    with pytest.raises(InputError, match="is not HOST:PORT"):
        RayExecutor("nowhere")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(InputError, match=r"pip install 'mlrobust\[ray\]'"):
        RayExecutor()

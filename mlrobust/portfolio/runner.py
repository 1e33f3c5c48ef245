"""Run verifier configurations over an instance set (``mlrobust portfolio run``).

Each (instance, configuration) pair is one unit of the shared engine (:mod:`mlrobust.engine`,
the same resumable loop and store as ``evaluate``). A unit runs in its own child process
(:mod:`mlrobust.portfolio.child`) with a wall-clock limit (the instance's timeout plus a grace
period; the child's process group is killed after it) and an address-space limit
(``RLIMIT_AS``, set in the child), so a crash, a hang or an out-of-memory costs only that run.
Every finished run is stored at once; a second call with the same store skips the pairs already
there, and ``rerun_errors`` runs the failed ones again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrobust.engine import Executor, Row, Store, make_executor, run_pending
from mlrobust.errors import InputError
from mlrobust.portfolio.configs import resolve
from mlrobust.portfolio.readers import InstanceSpec
from mlrobust.portfolio.table import Answer

logger = logging.getLogger(__name__)

#: fingerprint of a portfolio store: a store of other runs is refused, not mixed
STORE_KIND = "mlrobust.portfolio/1"


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """``memory_limit_mb``: address-space limit per run (paper 004 used 3 GB; a process that
    imports torch already maps ~0.7 GB). ``grace_s``: wall-clock slack past the timeout before
    the run is killed. ``jobs``: runs at a time. ``timeout``: overrides every instance's timeout.
    ``rerun_errors``: run again the pairs stored with answer ERROR."""

    memory_limit_mb: int = 4096
    grace_s: float = 5.0
    jobs: int = 1
    timeout: float | None = None
    rerun_errors: bool = False

    def __post_init__(self) -> None:
        if self.memory_limit_mb < 64 or self.jobs < 1 or self.grace_s < 0:
            raise InputError(
                "RunnerConfig needs memory_limit_mb >= 64, jobs >= 1 and grace_s >= 0, got "
                f"{self.memory_limit_mb}, {self.jobs}, {self.grace_s}."
            )
        if self.timeout is not None and not self.timeout > 0:
            raise InputError(f"timeout must be positive seconds, got {self.timeout}.")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One finished run as stored: ``time`` in seconds (the verifier call itself, or the wall
    clock until the kill), ``peak_memory_mb`` the child's maximum resident set size; ``error``
    the failure text, or for a decisive or unknown answer the configuration's note."""

    instance: str
    verifier: str
    answer: Answer
    time: float
    peak_memory_mb: float
    error: str


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    completed: tuple[RunRecord, ...]
    skipped: int
    store: Path


@dataclass(frozen=True, kw_only=True)
class PortfolioTask:
    """One unit: configuration ``config`` on ``instance`` within ``timeout`` seconds."""

    instance: InstanceSpec
    config: str
    timeout: float
    memory_limit_mb: int
    grace_s: float

    @property
    def key(self) -> str:
        return f"run/{self.instance.id}/{self.config}"


# children of this process's units, so an interrupted run can kill them (thread executors)
_ACTIVE: set[int] = set()
_ACTIVE_LOCK = threading.Lock()


def run_portfolio_task(task: PortfolioTask) -> dict[str, Any]:
    """Run one unit in a child process under its limits; the stored record as a dict."""
    with tempfile.TemporaryDirectory(prefix="mlrobust-run-") as folder:
        payload, result = Path(folder, "payload.json"), Path(folder, "result.json")
        # the spawn time lets the child take its own start-up out of the verifier's budget
        payload.write_text(
            json.dumps(
                {
                    "config": task.config,
                    "onnx": str(task.instance.onnx),
                    "vnnlib": str(task.instance.vnnlib),
                    "timeout": task.timeout,
                    "spawned_at": time.time(),
                }
            )
        )
        limit = task.memory_limit_mb * 1024 * 1024
        proc = subprocess.Popen(  # the child sets its own memory limit first (see the child)
            [
                sys.executable,
                "-m",
                "mlrobust.portfolio.child",
                str(payload),
                str(result),
                str(limit),
            ],
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a kill takes its helpers too
        )
        with _ACTIVE_LOCK:
            _ACTIVE.add(proc.pid)
        start = time.perf_counter()
        try:
            killed = False
            while True:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - start > task.timeout + task.grace_s:
                    _kill_group(proc.pid)
                    pid, status, rusage = os.wait4(proc.pid, 0)
                    killed = True
                    break
                time.sleep(0.01)
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        rec = _record(task, proc.returncode, rusage, killed, time.perf_counter() - start, result)
    logger.info(
        "%s on %s: %s in %.1f s %s",
        rec.verifier,
        rec.instance,
        rec.answer.name,
        rec.time,
        rec.error[:80],
    )
    return _payload(rec, task)


def _record(
    task: PortfolioTask, code: int, rusage: Any, killed: bool, wall: float, result: Path
) -> RunRecord:
    # the child's own VmHWM when it reports one; else ru_maxrss, an over-estimate that
    # includes the parent's memory image at fork time
    peak = rusage.ru_maxrss / 1024.0  # KiB on Linux
    answer, seconds, error = Answer.ERROR, wall, ""
    if killed:
        answer, error = Answer.UNKNOWN, f"timeout: killed after {wall:.1f} s wall-clock"
    elif result.exists():
        out = json.loads(result.read_text())
        seconds = float(out["seconds"])
        peak = out["peak_mb"] if out["peak_mb"] is not None else peak
        if out["status"] == "ok":
            answer, error = Answer[out["answer"].upper()], out["note"]
        elif out["status"] == "oom":
            answer, error = Answer.UNKNOWN, f"out of memory (limit {task.memory_limit_mb} MiB)"
        else:
            error = out["note"]
    elif code < 0:
        sig = signal.Signals(-code).name
        error = f"crashed: killed by {sig} (peak {peak:.0f} MiB of {task.memory_limit_mb} MiB)"
    else:
        error = f"exited with code {code} without a result"
    return RunRecord(
        instance=task.instance.id,
        verifier=task.config,
        answer=answer,
        time=float(seconds),
        peak_memory_mb=float(peak),
        error=error,
    )


def _payload(rec: RunRecord, task: PortfolioTask) -> dict[str, Any]:
    return {
        "instance": rec.instance,
        "verifier": rec.verifier,
        "answer": rec.answer.name.lower(),
        "time": rec.time,
        "peak_memory_mb": rec.peak_memory_mb,
        "error": rec.error,
        "onnx": str(task.instance.onnx),
        "vnnlib": str(task.instance.vnnlib),
        "timeout": task.timeout,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def record_of(payload: dict[str, Any]) -> RunRecord:
    """The :class:`RunRecord` of a stored payload."""
    return RunRecord(
        instance=payload["instance"],
        verifier=payload["verifier"],
        answer=Answer[payload["answer"].upper()],
        time=float(payload["time"]),
        peak_memory_mb=float(payload["peak_memory_mb"]),
        error=payload["error"],
    )


def _child_env() -> dict[str, str]:
    # The child must import mlrobust (and any plugin) the way this process did.
    paths = [p or os.getcwd() for p in sys.path]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("OMP_NUM_THREADS", "1")  # runs share the machine; no oversubscription
    return env


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError):  # already gone
        os.killpg(pid, signal.SIGKILL)


def kill_active() -> None:
    """Kill the children of every unit still running in this process (interrupted runs)."""
    with _ACTIVE_LOCK:
        pids = list(_ACTIVE)
    for pid in pids:
        _kill_group(pid)


def _raise_on_sigterm() -> Any:
    """Make SIGTERM raise (so the clean-up below kills the children) instead of ending the
    process at once and orphaning them. Only the main thread may install handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, _raise)


def run_portfolio(
    instances: Sequence[InstanceSpec],
    configs: Sequence[str],
    store: str | Path,
    *,
    config: RunnerConfig | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Run every configuration (by name, :func:`~mlrobust.portfolio.configs.resolve`) on every
    instance not yet in ``store``; returns what ran. ``executor``: where units run (default: a
    pool of ``config.jobs`` threads, each waiting on its child process)."""
    cfg = config or RunnerConfig()
    for name in configs:
        resolve(name)
    ids = [s.id for s in instances]
    if len(set(ids)) != len(ids):
        raise InputError("The instance list repeats an instance id; give each instance once.")
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    db = Store(store, STORE_KIND, mismatch_hint="Use another --store file.")
    tasks = [
        PortfolioTask(
            instance=s,
            config=n,
            timeout=cfg.timeout or s.timeout,
            memory_limit_mb=cfg.memory_limit_mb,
            grace_s=cfg.grace_s,
        )
        for s in instances
        for n in configs
    ]
    done = {
        k
        for k, p in db.payloads("run").items()
        if not (cfg.rerun_errors and p["answer"] == "error")
    }
    completed: list[RunRecord] = []

    def rows(task: PortfolioTask, payload: dict[str, Any]) -> list[Row]:
        completed.append(record_of(payload))
        return [(task.key, "run", payload)]

    own = executor is None
    ex = executor or make_executor(cfg.jobs, threads=True)
    old_term = _raise_on_sigterm()
    try:
        ran = run_pending(
            ex,
            run_portfolio_task,
            tasks,
            db,
            key=lambda t: t.key,
            rows=rows,
            done=done,
            description="portfolio runs",
        )
    finally:
        kill_active()  # interrupted: leave no orphans behind
        if own:
            ex.close()
        db.close()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return RunSummary(completed=tuple(completed), skipped=len(tasks) - ran, store=store)

"""Run verifier configurations over an instance set, one subprocess per run (``portfolio run``).

Each (instance, configuration) pair runs in its own child process with a wall-clock limit (the
instance's timeout plus a grace period; the process group is killed after it) and an address
space limit (``RLIMIT_AS``, set in the child before it starts), so a crash, a hang or an
out-of-memory costs only that run. Every finished run is written to a SQLite store at once; a
second call with the same store skips the pairs already there (resumable).

A configuration is a plain callable ``fn(onnx_path, vnnlib_path, timeout) -> answer`` (an
:class:`~mlrobust.metrics.portfolio.Answer`, a :class:`~mlrobust.verdicts.Verdict` or a verdict
word such as ``"holds"``), defined at module level so the child can import it by name.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrobust.errors import InputError
from mlrobust.metrics.portfolio.readers import InstanceSpec
from mlrobust.metrics.portfolio.table import Answer, parse_answer
from mlrobust.verdicts import Verdict

logger = logging.getLogger(__name__)

VerifierFn = Callable[[Path, Path, float], Any]
_CHILD = Path(__file__).with_name("_portfolio_child.py")
_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    instance TEXT NOT NULL, verifier TEXT NOT NULL, answer TEXT NOT NULL, time REAL,
    peak_memory_mb REAL, error TEXT, onnx TEXT, vnnlib TEXT, timeout REAL, finished_at TEXT,
    PRIMARY KEY (instance, verifier))"""


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


def builtin_configs() -> dict[str, VerifierFn]:
    """The named verifier configurations shipped with mlrobust (see
    :mod:`mlrobust.portfolio_configs`): ``bab``, ``milp_highs``, ``milp_gurobi``, ``milp_plain``,
    ``bounds_only``, ``attack_only``."""
    from mlrobust.portfolio_configs import BUILTIN

    return dict(BUILTIN)


def select_configs(
    registry: Mapping[str, VerifierFn], names: Sequence[str]
) -> dict[str, VerifierFn]:
    """The configurations called ``names``; a clear error for unknown or unpicklable ones."""
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise InputError(
            f"Unknown verifier configuration(s) {unknown}; available: {sorted(registry) or 'none'}."
        )
    chosen = {n: registry[n] for n in names}
    for name, fn in chosen.items():
        try:
            pickle.dumps(fn)
        except Exception as err:  # noqa: BLE001 - pickling raises many types
            raise InputError(
                f"Configuration {name!r} cannot be sent to a child process ({err}); define it as "
                "a module-level function (no lambda or closure)."
            ) from err
    return chosen


def _open_store(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute(_SCHEMA)
    con.commit()
    return con


def _finished(con: sqlite3.Connection, rerun_errors: bool) -> set[tuple[str, str]]:
    query = "SELECT instance, verifier FROM runs"
    if rerun_errors:
        query += " WHERE answer != 'error'"
    return {(i, v) for i, v in con.execute(query)}


def _save(con: sqlite3.Connection, rec: RunRecord, spec: InstanceSpec, timeout: float) -> None:
    con.execute(
        "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rec.instance,
            rec.verifier,
            rec.answer.name.lower(),
            rec.time,
            rec.peak_memory_mb,
            rec.error,
            str(spec.onnx),
            str(spec.vnnlib),
            timeout,
            dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        ),
    )
    con.commit()


def _coerce(value: Any) -> tuple[Answer, str] | None:
    """(answer, note); a value with ``answer`` and ``note`` attributes (``ConfigAnswer``)
    carries its note into the run's text column."""
    note = ""
    if hasattr(value, "answer") and hasattr(value, "note"):
        value, note = value.answer, str(value.note)
    if isinstance(value, Answer):
        return value, note
    if isinstance(value, Verdict):
        return Answer.from_verdict(value), note
    if isinstance(value, str):
        parsed = parse_answer(value)
        return None if parsed is None else (parsed, note)
    return None


def _child_env() -> dict[str, str]:
    # The child must import the configuration's module the way this process did.
    paths = [p or os.getcwd() for p in sys.path]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("OMP_NUM_THREADS", "1")  # runs share the machine; no oversubscription
    return env


@dataclass
class _Active:
    proc: subprocess.Popen[bytes]
    spec: InstanceSpec
    name: str
    timeout: float
    start: float
    folder: tempfile.TemporaryDirectory[str]


def _start(
    spec: InstanceSpec, name: str, fn: VerifierFn, timeout: float, cfg: RunnerConfig
) -> _Active:
    folder = tempfile.TemporaryDirectory(prefix="mlrobust-run-")
    payload = Path(folder.name, "payload.pkl")
    # the spawn time lets the child take its own start-up out of the verifier's budget
    payload.write_bytes(pickle.dumps((fn, spec.onnx, spec.vnnlib, timeout, time.time())))
    limit = cfg.memory_limit_mb * 1024 * 1024
    proc = subprocess.Popen(  # the child sets its own memory limit first (see the child)
        [
            sys.executable,
            str(_CHILD),
            str(payload),
            str(Path(folder.name, "result.pkl")),
            str(limit),
        ],
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: a kill takes its helpers too
    )
    return _Active(proc, spec, name, timeout, time.perf_counter(), folder)


def _finish(run: _Active, status: int, rusage: Any, killed: bool, cfg: RunnerConfig) -> RunRecord:
    run.proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    wall = time.perf_counter() - run.start
    # the child's own VmHWM when it reports one; else ru_maxrss, an over-estimate that includes
    # the parent's memory image at fork time
    peak = rusage.ru_maxrss / 1024.0  # KiB on Linux
    result = Path(run.folder.name, "result.pkl")
    answer, seconds, error = Answer.ERROR, wall, ""
    if killed:
        answer, error = Answer.UNKNOWN, f"timeout: killed after {wall:.1f} s wall-clock"
    elif result.exists():
        kind, value, seconds, own_peak = pickle.loads(result.read_bytes())
        peak = own_peak if own_peak is not None else peak
        if kind == "ok":
            coerced = _coerce(value)
            if coerced is None:
                error = f"configuration returned {value!r}, not an answer"
            else:
                answer, error = coerced
        elif kind == "oom":
            answer, error = Answer.UNKNOWN, f"out of memory (limit {cfg.memory_limit_mb} MiB)"
        else:
            error = str(value)
    elif run.proc.returncode < 0:
        sig = signal.Signals(-run.proc.returncode).name
        error = f"crashed: killed by {sig} (peak {peak:.0f} MiB of {cfg.memory_limit_mb} MiB)"
    else:
        error = f"exited with code {run.proc.returncode} without a result"
    run.folder.cleanup()
    return RunRecord(
        instance=run.spec.id,
        verifier=run.name,
        answer=answer,
        time=float(seconds),
        peak_memory_mb=peak,
        error=error,
    )


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError):  # already gone
        os.killpg(pid, signal.SIGKILL)


def _raise_on_sigterm() -> Any:
    """Make SIGTERM raise (so the clean-up below kills the children) instead of ending the
    process at once and orphaning them. Only the main thread may install handlers."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, _raise)


def run_portfolio(
    instances: Sequence[InstanceSpec],
    configs: Mapping[str, VerifierFn],
    store: str | Path,
    *,
    config: RunnerConfig | None = None,
) -> RunSummary:
    """Run every configuration on every instance not yet in ``store``; returns what ran."""
    cfg = config or RunnerConfig()
    store = Path(store)
    configs = select_configs(configs, list(configs))
    ids = [s.id for s in instances]
    if len(set(ids)) != len(ids):
        raise InputError("The instance list repeats an instance id; give each instance once.")
    with closing(_open_store(store)) as con:
        done = _finished(con, cfg.rerun_errors)
        todo = [(s, n) for s in instances for n in configs if (s.id, n) not in done]
        skipped = len(instances) * len(configs) - len(todo)
        logger.info("%d runs to do, %d already in %s", len(todo), skipped, store)
        completed: list[RunRecord] = []
        active: list[_Active] = []
        pending = list(reversed(todo))
        old_term = _raise_on_sigterm()
        try:
            while pending or active:
                while pending and len(active) < cfg.jobs:
                    spec, name = pending.pop()
                    timeout = cfg.timeout or spec.timeout
                    active.append(_start(spec, name, configs[name], timeout, cfg))
                for run in list(active):
                    pid, status, rusage = os.wait4(run.proc.pid, os.WNOHANG)
                    killed = False
                    if pid == 0:
                        if time.perf_counter() - run.start <= run.timeout + cfg.grace_s:
                            continue
                        _kill_group(run.proc.pid)
                        pid, status, rusage = os.wait4(run.proc.pid, 0)
                        killed = True
                    active.remove(run)
                    rec = _finish(run, status, rusage, killed, cfg)
                    _save(con, rec, run.spec, run.timeout)
                    completed.append(rec)
                    logger.info(
                        "%s on %s: %s in %.1f s %s",
                        rec.verifier,
                        rec.instance,
                        rec.answer.name,
                        rec.time,
                        rec.error[:80],
                    )
                time.sleep(0.01)
        finally:
            for run in active:  # interrupted: leave no orphans behind
                _kill_group(run.proc.pid)
                os.wait4(run.proc.pid, 0)
                run.proc.returncode = -signal.SIGKILL
                run.folder.cleanup()
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
    return RunSummary(completed=tuple(completed), skipped=skipped, store=store)

"""The resumable run engine shared by ``evaluate`` (cells, attack rows) and the verifier
``portfolio`` (runs): units of work go to an :class:`Executor` (serial, a process or thread
pool — and any class with ``map_unordered``), results come back in completion order and the
driver alone writes them to a :class:`Store` as they arrive, so a killed run loses only what
was in flight and a re-run skips what is stored.

>>> from mlrobust.engine import SerialExecutor
>>> sorted(r for _, r in SerialExecutor().map_unordered(abs, [-2, 1]))
[1, 2]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from mlrobust.engine.executor import (
    Executor,
    PoolExecutor,
    SerialExecutor,
    init_worker,
    make_executor,
)
from mlrobust.engine.ray_executor import RayExecutor, UnitFailed
from mlrobust.engine.store import Store, read_payloads

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
#: one stored row: key, kind, JSON payload
Row = tuple[str, str, dict[str, Any]]


class Progress(Protocol):
    """Where the engine reports progress (the CLI draws rich bars with an ETA)."""

    def start(self, description: str, total: int, completed: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class LogProgress:
    """Progress as log lines (the library default)."""

    def start(self, description: str, total: int, completed: int) -> None:
        log.info("%s: %d of %d already done", description, completed, total)

    def advance(self, n: int = 1) -> None:
        pass


def run_pending(
    executor: Executor,
    fn: Callable[[T], R],
    tasks: Sequence[T],
    store: Store,
    *,
    key: Callable[[T], str],
    rows: Callable[[T, R], list[Row]],
    done: set[str] | None = None,
    progress: Progress | None = None,
    description: str = "units",
) -> int:
    """Run every task whose ``key`` is not in ``done`` (default: the store's keys) and store
    ``rows(task, result)`` as each result arrives. Returns how many tasks ran. An exception
    (a task's, or one ``rows`` raises, e.g. a soundness error) stops the run: pending work is
    cancelled and what was stored stays."""
    stored = store.done()
    done = stored if done is None else done
    failed_before = {k for k in stored if k.startswith("error/")}
    todo = [t for t in tasks if key(t) not in done]
    bar = progress or LogProgress()
    bar.start(description, len(tasks), len(tasks) - len(todo))
    for task, result in _map(executor, fn, todo):
        if isinstance(result, UnitFailed):
            # kept apart from the unit's own key: a re-run tries the unit again
            log.warning("%s %s failed for good: %s", description, key(task), result.reason)
            store.put_many([(f"error/{key(task)}", "error", {"unit": key(task), **vars(result)})])
        else:
            store.put_many(rows(task, result))
            if f"error/{key(task)}" in failed_before:  # lost last time, done now
                store.delete([f"error/{key(task)}"])
        bar.advance()
    return len(todo)


def _map(ex: Executor, fn: Callable[[T], R], tasks: list[T]) -> Iterator[tuple[T, R]]:
    it = ex.map_unordered(fn, tasks)
    try:
        yield from it
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


__all__ = [
    "Executor",
    "LogProgress",
    "PoolExecutor",
    "Progress",
    "RayExecutor",
    "Row",
    "SerialExecutor",
    "Store",
    "UnitFailed",
    "init_worker",
    "make_executor",
    "read_payloads",
    "run_pending",
]

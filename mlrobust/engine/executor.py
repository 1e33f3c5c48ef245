"""Executors: where units of work run. The engine needs only ``map_unordered``, so a
distributed engine (Ray, Dask, a job queue) is one more class with that method."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Protocol, TypeVar

from mlrobust.errors import InputError

T = TypeVar("T")


def init_worker() -> None:
    """Worker initialiser: one torch thread per worker (the cores are the workers)."""
    import torch

    torch.set_num_threads(1)


def init_pool_worker() -> None:
    """A pool worker: :func:`init_worker`, and it dies with the process that spawned it
    (however that one dies: ``kill -9`` of ``mlrobust evaluate`` leaves no idle workers)."""
    init_worker()
    die_with_parent()


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (``prctl(PR_SET_PDEATHSIG)``;
    the standard library has no wrapper). A no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


class Executor(Protocol):
    """Runs ``fn`` on each task and yields ``(task, result)`` as results arrive (any order).
    Closing the iterator early must stop pending work; a task's exception is re-raised."""

    def map_unordered(
        self, fn: Callable[[T], Any], tasks: Iterable[T]
    ) -> Iterator[tuple[T, Any]]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """In this process, one task at a time (``workers = 1``; debuggers and tests)."""

    def __init__(self) -> None:
        init_worker()

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[tuple[T, Any]]:
        for task in tasks:
            yield task, fn(task)

    def close(self) -> None:
        pass


class PoolExecutor:
    """A ``concurrent.futures`` pool of ``workers`` processes (spawned: forking a process that
    already runs torch's thread pools can deadlock) or, with ``threads=True``, threads (for
    units that only wait on a child process of their own, such as portfolio runs). At most
    ``2 * workers`` tasks are in flight, so a kill loses little and an early stop cancels the
    rest."""

    def __init__(self, workers: int, *, threads: bool = False) -> None:
        self.workers = workers
        self._pool: futures.Executor
        if threads:
            self._pool = futures.ThreadPoolExecutor(workers)
        else:
            self._pool = futures.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_pool_worker,
            )

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[tuple[T, Any]]:
        pending: dict[Future[Any], T] = {}
        todo = iter(tasks)
        try:
            while True:
                while len(pending) < 2 * self.workers:
                    task = next(todo, None)
                    if task is None:
                        break
                    pending[self._pool.submit(fn, task)] = task
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


EXECUTORS = ("pool", "ray")


def make_executor(
    workers: int, *, threads: bool = False, kind: str = "pool", address: str = ""
) -> Executor:
    """``kind = "pool"``: serial for one worker, else a process (or thread) pool; ``"ray"``: a
    :class:`~mlrobust.engine.ray_executor.RayExecutor` (local, or the cluster at ``address``)."""
    if kind == "ray":
        from mlrobust.engine.ray_executor import RayExecutor

        return RayExecutor(address or None)
    if kind != "pool":
        raise InputError(f"Unknown executor {kind!r}; use one of: {', '.join(EXECUTORS)}.")
    return SerialExecutor() if workers <= 1 else PoolExecutor(workers, threads=threads)

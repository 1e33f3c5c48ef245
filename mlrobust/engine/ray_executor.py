"""Units of work as Ray tasks, on this machine or on a Ray cluster (``pip install
'mlrobust[ray]'``). Ray does the scheduling, the retries of tasks whose worker died and the
object store; this class only keeps a bounded number of tasks in flight and hands results back
in completion order, so the driver alone writes the store (as with the process pool).

* Tensors that several tasks share (the dataset's images in every attack unit) go to the
  object store once (:meth:`RayExecutor._share`), not pickled into every task.
* A task whose worker process or node dies is retried by Ray (``max_retries``); when it keeps
  dying its unit comes back as :class:`UnitFailed` (the engine stores an error row naming the
  unit, and the run goes on). An exception raised by the unit's own code is re-raised, exactly
  as with the process pool: it is a bug or a soundness stop, not a lost machine.
* Closing the iterator early (Ctrl-C, an error) cancels every task still in flight.

Models are loaded by each worker from their reference (a path or a shipped name), so on a
cluster the model files must be readable at the same path on every node.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from mlrobust.errors import InputError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class UnitFailed:
    """The result of a unit whose task kept dying (worker or node lost) after Ray's retries."""

    reason: str


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise InputError(
            "The ray executor needs Ray: pip install 'mlrobust[ray]' (or choose --executor pool)."
        ) from exc
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail within seconds, naming the address, when nothing listens there (``ray.init`` would
    otherwise keep retrying for a minute)."""
    if address in ("", "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(
            f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT, 'auto' or empty."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(
            f"No Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
            "`ray start --head` or leave --ray-address empty for a local Ray instance."
        ) from exc


def _run_unit(fn: Callable[[Any], Any], task: Any) -> Any:
    """The body of every Ray task: one torch thread, shared tensors fetched, the unit run."""
    from mlrobust.engine.executor import init_worker

    init_worker()
    return fn(_resolve(task))


def _resolve(task: Any) -> Any:
    ray = _ray()
    if not dataclasses.is_dataclass(task) or isinstance(task, type):
        return task
    refs = {
        f.name: ray.get(getattr(task, f.name))
        for f in dataclasses.fields(task)
        if isinstance(getattr(task, f.name), ray.ObjectRef)
    }
    return dataclasses.replace(task, **refs) if refs else task


class RayExecutor:
    """An :class:`~mlrobust.engine.Executor` on Ray.

    ``address``: ``None`` or ``""`` starts a local Ray instance sized to this machine;
    ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` join a running cluster.
    ``cpus_per_task`` / ``memory_mb``: each task's resource request (one torch thread each).
    ``max_in_flight``: tasks submitted but not finished (default twice the cluster's CPUs).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_task: float = 1.0,
        memory_mb: int = 0,
        max_retries: int = 3,
        max_in_flight: int = 0,
        num_cpus: int | None = None,
    ) -> None:
        ray = _ray()
        self._ray = ray
        address = address or ""
        _check_reachable(address)
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        if memory_mb:
            largest = max(
                (n["Resources"].get("memory", 0) for n in ray.nodes() if n["Alive"]), default=0
            )
            if largest < memory_mb * 2**20:
                raise InputError(
                    f"No node of the Ray cluster has {memory_mb} MB of memory for one task "
                    f"(largest: {largest / 2**20:.0f} MB); lower memory_mb or add a bigger node."
                )
        self.max_in_flight = max_in_flight or 2 * max(cpus, 1)
        options: dict[str, Any] = {"num_cpus": cpus_per_task, "max_retries": max_retries}
        if memory_mb:
            options["memory"] = memory_mb * 2**20
        self._remote = ray.remote(_run_unit).options(**options)
        self._shared: dict[tuple[int, tuple[int, ...], tuple[int, ...]], Any] = {}

    def _share(self, task: Any) -> Any:
        """``task`` with every tensor of 64 KiB or more replaced by an object-store reference,
        put once per distinct tensor (same memory, shape and strides)."""
        import torch

        if not dataclasses.is_dataclass(task) or isinstance(task, type):
            return task
        swap = {}
        for f in dataclasses.fields(task):
            value = getattr(task, f.name)
            if isinstance(value, torch.Tensor) and value.nelement() * value.element_size() >= 2**16:
                key = (value.data_ptr(), tuple(value.shape), tuple(value.stride()))
                if key not in self._shared:
                    self._shared[key] = self._ray.put(value)
                swap[f.name] = self._shared[key]
        return dataclasses.replace(task, **swap) if swap else task

    def map_unordered(self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[tuple[T, Any]]:
        ray = self._ray
        lost = (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.OutOfMemoryError,
            ray.exceptions.ObjectLostError,
        )
        fn_ref = ray.put(fn)
        pending: dict[Any, T] = {}
        todo = iter(tasks)
        try:
            while True:
                while len(pending) < self.max_in_flight:
                    task = next(todo, None)
                    if task is None:
                        break
                    pending[self._remote.remote(fn_ref, self._share(task))] = task
                if not pending:
                    return
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except lost as exc:
                        log.warning("unit lost after Ray's retries: %s", type(exc).__name__)
                        result = UnitFailed(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                    except ray.exceptions.RayTaskError as exc:
                        # the unit's own exception, as the process pool re-raises it (a
                        # one-line InputError stays one line; Ray's traceback is in the log)
                        log.debug("%s", exc)
                        cause = getattr(exc, "cause", None)
                        raise (cause if isinstance(cause, Exception) else exc) from None
                    yield task, result
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        self._shared.clear()
        if self._started:
            self._ray.shutdown()

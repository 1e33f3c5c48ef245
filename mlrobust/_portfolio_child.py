"""Child process of the portfolio runner: one verifier call, then exit.

Run as a *script* (``python .../_portfolio_child.py PAYLOAD RESULT LIMIT_BYTES``), not as
``-m``, so that it does not import the ``mlrobust`` package (and torch) unless the verifier itself
does: the start-up cost is then a bare interpreter. It first sets its own address-space limit
(doing it here rather than in a ``preexec_fn`` lets the parent spawn without forking its own,
possibly large, memory image, which would also inflate the child's peak-RSS figure), then
unpickles ``(fn, onnx, vnnlib, timeout, spawned_at)`` (a file its parent wrote), calls ``fn``
with ``timeout`` less its own start-up (the time since ``spawned_at``; the parent's clock runs
from the spawn) and pickles ``(status, value, seconds, peak_mb)`` to RESULT, where status is ``ok``,
``oom`` or ``error``.
"""

import pickle
import resource
import sys
import time
import traceback


def _peak_rss_mb() -> float | None:
    """This process's own peak resident memory (VmHWM belongs to the address space created at
    exec, unlike ru_maxrss, which also counts the parent's image at fork time)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def main(payload_path: str, result_path: str) -> int:
    with open(payload_path, "rb") as fh:
        fn, onnx, vnnlib, timeout, spawned_at = pickle.load(fh)
    start = time.perf_counter()
    # the parent's clock runs from the spawn: leave the verifier only what is left of it
    timeout = max(timeout - (time.time() - spawned_at), 0.1)
    try:
        value = fn(onnx, vnnlib, timeout)
        status = "ok"
    except MemoryError:
        value, status = "MemoryError: allocation failed under the memory limit", "oom"
    except BaseException:  # noqa: BLE001 - every failure is reported to the parent as text
        value, status = traceback.format_exc(limit=6)[-2000:], "error"
    seconds = time.perf_counter() - start
    peak = _peak_rss_mb()
    try:
        blob = pickle.dumps((status, value, seconds, peak))
    except Exception as err:  # noqa: BLE001 - an unpicklable answer is the verifier's bug
        blob = pickle.dumps(
            ("error", f"verifier returned an unpicklable value: {err}", seconds, peak)
        )
    with open(result_path, "wb") as fh:
        fh.write(blob)
    return 0


if __name__ == "__main__":
    # Drop this file's folder (mlrobust/) from the path: its subpackages would shadow
    # top-level modules of the same name (e.g. ``datasets``).
    sys.path.pop(0)
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(main(sys.argv[1], sys.argv[2]))

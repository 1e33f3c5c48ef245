"""Child process of the portfolio runner: one configuration on one instance, then exit.

Run as ``python -m mlrobust.portfolio.child PAYLOAD RESULT LIMIT_BYTES``. It first sets its own
address-space limit (``RLIMIT_AS``; here rather than in a ``preexec_fn`` so the parent spawns
without forking its own, possibly large, memory image, which would also inflate the child's
peak-RSS figure), reads ``{"config", "onnx", "vnnlib", "timeout", "spawned_at"}`` (JSON its
parent wrote), runs the configuration with ``timeout`` less its own start-up (the parent's
clock runs from the spawn) and writes ``{"status", "answer", "note", "seconds", "peak_mb"}`` to
RESULT, where status is ``ok``, ``oom`` or ``error`` (the note then holds the traceback).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from pathlib import Path


def peak_rss_mb() -> float | None:
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
    payload = json.loads(Path(payload_path).read_text())
    start = time.perf_counter()
    timeout = max(float(payload["timeout"]) - (time.time() - float(payload["spawned_at"])), 0.1)
    answer, note = "error", ""
    try:
        from mlrobust.portfolio.configs import run_configuration

        out = run_configuration(
            payload["config"], Path(payload["onnx"]), Path(payload["vnnlib"]), timeout
        )
        status, answer, note = "ok", out.answer.name.lower(), out.note
    except MemoryError:
        status, note = "oom", "MemoryError: allocation failed under the memory limit"
    except BaseException:  # noqa: BLE001 - every failure is reported to the parent as text
        status, note = "error", traceback.format_exc(limit=6)[-2000:]
    result = {
        "status": status,
        "answer": answer,
        "note": note,
        "seconds": time.perf_counter() - start,
        "peak_mb": peak_rss_mb(),
    }
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(main(sys.argv[1], sys.argv[2]))

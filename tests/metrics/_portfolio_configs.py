"""Test-only verifier configurations for the portfolio runner (imported by its child processes,
so this module stays free of heavy imports)."""

import os
import signal
import time


def answers_holds(onnx, vnnlib, timeout):
    return "holds" if "holds" in str(vnnlib) else "violated"


def raises(onnx, vnnlib, timeout):
    raise RuntimeError("solver exploded on purpose")


def segfaults(onnx, vnnlib, timeout):
    os.kill(os.getpid(), signal.SIGSEGV)


def sleeps(onnx, vnnlib, timeout):
    time.sleep(60)
    return "holds"


def hogs_memory(onnx, vnnlib, timeout):
    block = bytearray(2 * 1024**3)  # 2 GiB, over the test's limit
    return "holds" if block else "unknown"


def returns_junk(onnx, vnnlib, timeout):
    return 42

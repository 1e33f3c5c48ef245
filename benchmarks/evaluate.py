"""Benchmark of the default ``mlrobust evaluate``: wall time, peak memory, time per component.

    PYTHONPATH=. python benchmarks/evaluate.py [--workers 2] [--out /tmp/mlrobust-bench]

Runs the command exactly as a user would (a subprocess, fresh report folder, OMP threads 1),
then reads the components' seconds from each model's results.json. Peak memory: the largest
resident set of the main process and of any worker (RUSAGE_CHILDREN reports the maximum over
all waited-for descendants).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/mlrobust-bench-evaluate"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "mlrobust",
        "--threads",
        "1",
        "evaluate",
        "--workers",
        str(args.workers),
        "--out",
        str(args.out),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    totals: dict[str, float] = {}
    models = sorted(p.parent.name for p in args.out.glob("*/results.json"))
    for name in models:
        timing = json.loads((args.out / name / "results.json").read_text())["timing"]
        for k, v in timing.items():
            totals[k] = totals.get(k, 0.0) + (v or 0.0)
    busy = sum(totals.values()) or 1.0
    print(
        f"default `mlrobust evaluate` ({', '.join(models)}), {args.workers} workers, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"wall time: {wall:.1f} s   peak RSS of one process: {peak_mb:.0f} MiB")
    print("component        seconds   share (summed over workers)")
    for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{k:<16} {v:8.1f}   {100 * v / busy:5.1f}%")


if __name__ == "__main__":
    main()
